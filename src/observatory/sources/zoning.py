"""Give every conformed row its zone: by zone code or name, by point, or by sensor.

Zone codes are matched to zone ids (and then to zone names) with the source's
`zone_match` rule; points are looked up with shapely (after projecting x/y to lon/lat with
pyproj when the source declares a CRS); sensor readings take their sensor's zone. A row
that ends with no zone is quarantined by the suite, with its reason, never dropped.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from observatory.config import SourceConfig
from observatory.sources.mapping import CITY_ZONE, fold_update, normalized_name
from observatory.sql_util import literal
from observatory.warehouse import table_exists
from observatory.zones import Zones, assign_table


def match_key(src: SourceConfig, expr: str) -> str:
    """SQL: the key a zone code is compared on, per the source's `zone_match`."""
    if src.zone_match == "numeric":
        return f"try_cast({expr} as bigint)"
    if src.zone_match == "normalized":
        return normalized_name(expr)
    return f"cast({expr} as varchar)"


def _code_lookup(src: SourceConfig, conf: str) -> str:
    """Subquery: zone code -> zone id; an id match wins over a name match, which wins over
    a declared alias (`[zones] aliases` / crosswalk, ref.zone_aliases)."""
    code, zid, zname = (match_key(src, e) for e in ("c.zone_code", "z.zone_id", "z.zone_name"))
    alias = match_key(src, "a.alias")
    return f"""(
        select code, arg_min(zone_id, priority) as zone_id from (
            select c.zone_code as code, z.zone_id,
                   case when {zid} = {code} then 1 else 2 end as priority
            from (select distinct zone_code from {conf} where zone_code is not null) as c
            join ref.zones as z on {zid} = {code} or {zname} = {code}
            union all
            select c.zone_code as code, a.zone_id, 3 as priority
            from (select distinct zone_code from {conf} where zone_code is not null) as c
            join ref.zone_aliases as a on {alias} = {code}
        ) group by code
    )"""  # noqa: S608 (work table named by digest; match keys compiled from a config Literal)


def project_points(con: duckdb.DuckDBPyConnection, src: SourceConfig, conf: str) -> str:
    """Lookup table of distinct projected (x, y) -> (lon, lat), via pyproj."""
    from pyproj import Transformer  # noqa: PLC0415 - only sources with a CRS need it

    if src.coordinates is None:
        raise ValueError(f"source '{src.name}': projected points need `coordinates.crs`")
    pts = con.execute(
        f"select distinct coord_x as x, coord_y as y from {conf} "  # noqa: S608 (the batch's work table, named by file digest)
        "where coord_x is not null and coord_y is not null"
    ).df()
    transformer = Transformer.from_crs(src.coordinates.crs, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(pts["x"].to_numpy(), pts["y"].to_numpy())
    frame = pd.DataFrame({"x": pts["x"], "y": pts["y"], "lon": lon, "lat": lat})
    lookup = f"{conf}_lonlat"
    con.register("_projected", frame)
    try:
        con.execute(
            f"create or replace table {lookup} as select cast(x as double) as x, "  # noqa: S608 (the batch's work table, named by file digest)
            "cast(y as double) as y, cast(lon as double) as lon, cast(lat as double) as lat "
            "from _projected"
        )
    finally:
        con.unregister("_projected")
    return lookup


def _with_lonlat(con: duckdb.DuckDBPyConnection, src: SourceConfig, conf: str) -> str:
    """The conformed batch with latitude/longitude filled from projected x/y, if any."""
    if not src.coordinates:
        return conf
    lookup = project_points(con, src, conf)
    out = f"{conf}_ll"
    con.execute(
        f"""
        create or replace table {out} as
        select c.* replace (
            coalesce(c.latitude, p.lat) as latitude,
            coalesce(c.longitude, p.lon) as longitude
        )
        from {conf} as c
        left join {lookup} as p on p.x = c.coord_x and p.y = c.coord_y
        """  # noqa: S608 (the batch's work tables, named by file digest)
    )
    return out


def _time_window(con: duckdb.DuckDBPyConnection, src: SourceConfig, conf: str) -> str:
    """For sensors, an extra filter that keeps the earlier-batch lookup to the batch's own
    time span. A sensor record id embeds its timestamp, so no match is lost, and the filter
    on a constant range lets DuckDB skip every row group outside it: without it, each batch
    scanned every reading accepted before (quadratic in the history: 4.8 s for the first
    1.28M-row month, 12.8 s for the twelfth)."""
    if src.kind != "sensors":
        return ""
    low, high = con.execute(f"select min(measured_at), max(measured_at) from {conf}").fetchall()[0]  # noqa: S608 (the batch's work table, named by file digest)
    if low is None:
        return " and false"
    # A second of margin: the record id keeps whole seconds, so a reading at 10:00:00.7
    # repeats one at 10:00:00.2 accepted before.
    return (
        f" and measured_at between cast({literal(low)} as timestamptz) - interval 1 second "
        f"and cast({literal(high)} as timestamptz) + interval 1 second"
    )


def _only_batch_records(src: SourceConfig, conf: str) -> str:
    """For other kinds (whose conformed batch is a table), an extra filter that keeps the
    earlier-batch lookup to this batch's record ids: it then groups the matches, not every
    record accepted before. (Sensors set theirs by an update after the zoned table exists.)"""
    if src.kind == "sensors":
        return ""
    return f" and record_id in (select record_id from {conf})"  # noqa: S608 (the batch's work table, named by file digest)


def conform_with_zone(
    con: duckdb.DuckDBPyConnection,
    src: SourceConfig,
    zones: Zones,
    conf: str,
    out: str,
    *,
    city_tz: str,
) -> None:
    """Create `out`: the conformed batch plus `zone_id`, `prior_batch_id` (the batch in
    which the same record id was already accepted, for the cross-batch uniqueness check)
    and `copy_number` (1 for the first of identical rows: exact copies after it are
    quarantined, while one id with different contents quarantines every version).

    `city_tz`: the city's zone, for a source that infers repeated local times (its later
    rows are set before the record ids are compared: `mapping.fold_update`)."""
    if src.kind == "sensors":
        key = normalized_name if (src.locations and src.locations.match == "normalized") else str
        # a declared alias (`[sources.locations] aliases`) names the locations file's id;
        # without any, the join is left out (probing it cost a sixth of a sensor month's
        # conform step, to find nothing)
        (aliases,) = con.execute(
            "select count(*) from ref.sensor_aliases where source_name = ?", [src.name]
        ).fetchone()
        sensor = "coalesce(sa.sensor_id, c.sensor_id)" if aliases else "c.sensor_id"
        zone_join = (
            (
                "left join ref.sensor_aliases as sa "
                f"on sa.source_name = {literal(src.name)} "
                f"and {key('sa.alias')} = {key('c.sensor_id')} "
            )
            if aliases
            else ""
        ) + (
            "left join ref.sensor_locations as sl "
            f"on sl.source_name = {literal(src.name)} and {key('sl.sensor_id')} = {key(sensor)}"
        )
        zone_expr = "sl.zone_id"
        canonical = f"c.* replace ({sensor} as sensor_id)" if aliases else "c.*"
    elif src.level == "city":
        zone_join, zone_expr, canonical = "", literal(CITY_ZONE), "c.*"
    else:
        canonical = "c.*"
        conf = _with_lonlat(con, src, conf)
        points = assign_table(con, zones, conf, "longitude", "latitude")
        zone_join = (
            f"left join {_code_lookup(src, conf)} as zc on zc.code = c.zone_code "
            f"left join {points} as pz on pz.lon = c.longitude and pz.lat = c.latitude"
        )
        zone_expr = "coalesce(zc.zone_id, pz.zone_id)"
    earlier = table_exists(con, "validated", src.kind)
    if earlier and src.kind == "sensors":
        # The batch's time span is read from the zoned table once it exists: computing it
        # from the conform query first would parse every timestamp twice. Matches are then
        # set by an update, which normally touches no row.
        prior_join, prior_expr = "", "cast(null as varchar)"
    elif earlier:
        prior_join = (
            f"left join (select record_id, min(batch_id) as batch_id from validated.{src.kind} "  # noqa: S608 (kind a config Literal; name and times escaped by literal())
            f"where source_name = {literal(src.name)}{_time_window(con, src, conf)}"
            f"{_only_batch_records(src, conf)} "
            "group by record_id) as pb on pb.record_id = c.record_id"
        )
        prior_expr = "pb.batch_id"
    else:
        prior_join, prior_expr = "", "cast(null as varchar)"
    con.execute(
        f"""
        create or replace table {out} as
        select
            {canonical},
            {zone_expr} as zone_id,
            {prior_expr} as prior_batch_id,
            cast(1 as bigint) as copy_number
        from {conf} as c {zone_join} {prior_join}
        """  # noqa: S608 (work tables by digest; fragments built above from code and literal())
    )
    for statement in fold_update(src, city_tz, out):
        con.execute(statement)
    if earlier and src.kind == "sensors":
        con.execute(
            f"""
            update {out} as t set prior_batch_id = pb.batch_id
            from (
                select record_id, min(batch_id) as batch_id from validated.{src.kind}
                where source_name = {literal(src.name)}{_time_window(con, src, out)}
                group by record_id
            ) as pb
            where pb.record_id = t.record_id
            """  # noqa: S608 (work table by digest; kind a Literal; name and times escaped by literal())
        )
    # The batch's repeated record ids, once: exact copies are numbered among their rows
    # only, and the suite's uniqueness expectation counts its repeats among them too
    # (`repeated_table`; one group-by over the batch instead of two).
    repeated = repeated_table(out)
    con.execute(
        f"create or replace table {repeated} as select record_id from {out} "  # noqa: S608 (the batch's work tables, named by file digest)
        "where record_id is not null group by 1 having count(*) > 1"
    )
    # Exact copies are rare: number only the rows whose record id repeats (copies share it)
    # or is missing (a window over the whole batch cost a third of this step on the
    # largest feeds).
    con.execute(
        f"""
        update {out} as t set copy_number = r.copy_number
        from (
            select rowid as rid, row_number() over (
                partition by record_id, _row_hash order by _row_number
            ) as copy_number
            from {out}
            where record_id in (select record_id from {repeated}) or record_id is null
        ) as r
        where t.rowid = r.rid and r.copy_number > 1
        """  # noqa: S608 (the batch's work tables, named by file digest)
    )


def repeated_table(out: str) -> str:
    """The work table (`record_id`) of the record ids that occur more than once in the
    zoned batch `out`, made by `conform_with_zone` (dropped with the batch's work tables)."""
    return f"{out}_repeated"
