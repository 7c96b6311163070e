"""`observatory check-config`: a dry run of each source's mapping and suite on a sample.

Nothing is written to the warehouse: the sample is read into an in-memory DuckDB with the
city's zones (and sensor locations), conformed by the compiled mapping, given zones and
validated by the real suite, exactly as ingestion would. The result shows how rows map,
what would be quarantined and why, and which zone codes or sensor names found no match:
each with its closest candidates and the alias line to paste, answer and group labels the
label maps miss (with counts), raw timestamps that did not parse, and a hint when
"latitude/longitude" hold projected metres.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb

from observatory import progress
from observatory.config import Config, SourceConfig, respondent_warning
from observatory.ingest import (
    _Batch,
    attach_work_catalog,
    landing_files,
    refresh_sensor_locations,
    validate_batch,
)
from observatory.sources import crosswalk
from observatory.sources.mapping import TEXT_CHECKED, check_columns, compile_conform
from observatory.sources.readers import BatchError, drop_batch_table, load_file
from observatory.warehouse import SCHEMAS, columns_of
from observatory.zones import Zones, load_zones, write_zones


@dataclass
class SourceCheck:
    """What a source's sample would become."""

    source: str
    file: str | None
    rows_sampled: int = 0
    records: int = 0
    accepted: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    non_response: int = 0
    #: per unmatched name: rows, closest candidates (label, id, score) and the alias line
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    #: field -> raw text the mapping could not read -> rows (labels missing from a map)
    unmapped_labels: dict[str, dict[str, int]] = field(default_factory=dict)
    #: timestamp field -> samples of raw text that did not parse
    unparsed: dict[str, list[str]] = field(default_factory=dict)
    #: what to do about the above, one line each (printed by the CLI)
    hints: list[str] = field(default_factory=list)
    preview: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def _memory_warehouse(cfg: Config, zones: Zones) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for schema in SCHEMAS:
        con.execute(f"create schema {schema}")
    write_zones(con, cfg, zones)
    return con


def _check_source(
    con: duckdb.DuckDBPyConnection, cfg: Config, src: SourceConfig, zones: Zones, sample: int
) -> SourceCheck:
    files = landing_files(cfg, src)
    result = SourceCheck(src.name, str(files[0]) if files else None)
    warning = respondent_warning(src)
    if warning:
        result.warnings.append(warning)
    if not files:
        result.error = f"no files match {cfg.resolve(src.path)}"
        return result
    batch = _Batch(src, files[0], "0" * 64, dt.datetime.now(dt.UTC), label="check-")
    attach_work_catalog(con)
    try:
        if src.kind == "sensors":
            refresh_sensor_locations(con, cfg, src, zones)
        whole = batch.table("whole")
        load_file(con, src.format, files[0], src.read, whole)
        con.execute(
            f"create or replace table {batch.table('b')} as "  # noqa: S608 (work tables named by file digest; sample is an int)
            f"select * from {whole} where _row_number <= {int(sample)}"
        )
        drop_batch_table(con, whole)
        check_columns(src, columns_of(con, batch.table("b")), str(files[0]))
        validate_batch(con, cfg, batch, zones, dt.datetime.now(dt.UTC))
    except BatchError as exc:
        result.error = str(exc)
        return result
    zoned, flagged = batch.table("z"), batch.table("f")
    result.rows_sampled = con.execute(f"select count(*) from {batch.table('b')}").fetchall()[0][0]  # noqa: S608 (work table named by file digest)
    (result.records,) = con.execute(f"select count(*) from {zoned}").fetchall()[0]  # noqa: S608 (work table named by file digest)
    (failing,) = con.execute(f"select count(*) from {flagged}").fetchall()[0]  # noqa: S608 (work table named by file digest)
    if src.kind == "survey":
        (result.non_response,) = con.execute(
            f"select count(*) from {zoned} as z where is_non_response "  # noqa: S608 (work tables named by file digest)
            f"and not exists (select 1 from {flagged} as f where f._zrow = z.rowid)"
        ).fetchall()[0]
    result.accepted = result.records - failing - result.non_response
    result.quarantined = dict(
        con.execute(
            f"select unnest(_reasons) as reason, count(*) from {flagged} group by 1 order by 2 desc"  # noqa: S608 (work table named by file digest)
        ).fetchall()
    )
    key = "sensor_id" if src.kind == "sensors" else "zone_code"
    result.unmatched = [
        r[0]
        for r in con.execute(
            f"select distinct {key} from {zoned} where zone_id is null and {key} is not null "  # noqa: S608 (work table by digest; key column from code)
            "order by 1 limit 20"
        ).fetchall()
    ]
    _suggest(con, cfg, src, zones=zones, zoned=zoned, result=result)
    _unread_text(con, cfg, src, batch.table("b"), result)
    _coordinates_hint(con, cfg, src, zones=zones, zoned=zoned, result=result)
    rel = con.execute(
        f"select z.* exclude (_row_hash), coalesce(f._reasons, cast([] as varchar[])) as _reasons "  # noqa: S608 (work tables named by file digest)
        f"from {zoned} as z left join {flagged} as f on f._zrow = z.rowid "
        "order by z._row_number limit 5"
    )
    cols = [d[0] for d in rel.description]
    result.preview = [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]
    return result


def check_config(
    cfg: Config, sources: list[str] | None = None, sample: int = 1000
) -> list[SourceCheck]:
    """Dry-run the mapping and suite of each source on the first `sample` rows of its first
    landing file; return what would be accepted and quarantined, and why."""
    zones = load_zones(cfg)
    selected = [cfg.source(s) for s in sources] if sources else list(cfg.sources)
    con = _memory_warehouse(cfg, zones)
    results = []
    try:
        with progress.task("check-config", len(selected), "sources") as bar:
            for src in selected:
                bar.update(item=src.name)
                results.append(_check_source(con, cfg, src, zones, sample))
                bar.advance(1, rows=results[-1].rows_sampled)
        return results
    finally:
        con.close()


def _suggest(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    src: SourceConfig,
    *,
    zones: Zones,
    zoned: str,
    result: SourceCheck,
) -> None:
    """Closest zone names (or sensor ids) of each unmatched name, and the line to paste."""
    key = "sensor_id" if src.kind == "sensors" else "zone_code"
    rows = con.execute(
        f"select {key}, count(*) from {zoned} where zone_id is null and {key} is not null "  # noqa: S608 (work table by digest; key column from code)
        "group by 1 order by 2 desc, 1 limit 20"
    ).fetchall()
    if not rows:
        return
    if src.kind == "sensors":
        section = f"[sources.locations.aliases]   # source {src.name}"
        ids = con.execute(
            "select sensor_id from ref.sensor_locations where source_name = ?", [src.name]
        ).fetchall()
        candidates = {r[0]: r[0] for r in ids}
    else:
        section = "[zones.aliases]"
        candidates = {**dict(zip(zones.names, zones.ids, strict=True))}
        candidates.update({z: z for z in zones.ids})
    for name, n in rows:
        best = crosswalk.closest(str(name), candidates)
        line = crosswalk.alias_line(str(name), best[0][1]) if best else None
        result.suggestions.append({"name": name, "rows": n, "candidates": best, "alias_line": line})
        shown = ", ".join(f"{label!r} ({target}, {score:.0f})" for label, target, score in best)
        result.hints.append(
            f"{name!r} ({n} rows) matches nothing; closest: {shown or 'none'}"
            + (f"; paste under {section}: {line}" if line else "")
        )


def _unread_text(
    con: duckdb.DuckDBPyConnection, cfg: Config, src: SourceConfig, raw: str, result: SourceCheck
) -> None:
    """Raw text the mapping could not read: labels missing from a label map (answers and
    groups, with counts) and timestamps that did not parse (samples)."""
    sql = compile_conform(src, raw, cfg.city.timezone, columns_of(con, raw), keep_text=True)
    con.execute(f"create or replace temp table _check_text as {sql}")
    try:
        for fld in TEXT_CHECKED[src.kind]:
            text = f"{fld}__text"
            if text not in columns_of(con, "_check_text"):
                continue
            skip = " and not is_non_response" if src.kind == "survey" else ""
            failed = con.execute(
                f"select {text}, count(*) from _check_text where {fld} is null "  # noqa: S608 (column from code's field list)
                f"and {text} is not null{skip} group by 1 order by 2 desc, 1 limit 10"
            ).fetchall()
            if not failed:
                continue
            if fld.endswith("_at"):
                result.unparsed[fld] = [r[0] for r in failed[:5]]
                fmt = src.timestamp.format or "ISO 8601"
                result.hints.append(
                    f"{fld}: {sum(r[1] for r in failed)} rows did not parse as {fmt}, e.g. "
                    f"{', '.join(repr(r[0]) for r in failed[:5])}; set [sources.timestamp] "
                    "format (a strptime format, or 'spreadsheet_serial' / 'yyyymmdd')"
                )
            else:
                result.unmapped_labels[fld] = {r[0]: r[1] for r in failed}
                result.hints.append(
                    f"{fld}: labels not in [sources.labels.{fld}]: "
                    + ", ".join(f"{r[0]!r} x{r[1]}" for r in failed)
                    + " (add them, or list don't-know codes under non_response)"
                )
        for name, spec in sorted(src.groups.items()):
            known = [k.strip().lower() for k in spec.labels]
            text = f"group_{name}__text"
            missing = con.execute(
                f"select {text}, count(*) from _check_text where {text} is not null "  # noqa: S608 (group name a checked identifier; labels bound)
                f"and {text} <> '' and {text} not in (select unnest(?)) "
                "group by 1 order by 2 desc, 1 limit 10",
                [known],
            ).fetchall()
            if missing:
                result.unmapped_labels[f"group {name}"] = {r[0]: r[1] for r in missing}
                result.hints.append(
                    f"group {name}: answers outside [sources.groups.{name}] labels (these "
                    "respondents count in no group): "
                    + ", ".join(f"{r[0]!r} x{r[1]}" for r in missing)
                )
    finally:
        con.execute("drop table if exists _check_text")


def _coordinates_hint(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    src: SourceConfig,
    *,
    zones: Zones,
    zoned: str,
    result: SourceCheck,
) -> None:
    if src.coordinates or "latitude" not in src.columns or "longitude" not in src.columns:
        return
    frame = con.execute(f"select latitude, longitude from {zoned} limit 1000").df()  # noqa: S608 (work table named by file digest)
    hint = crosswalk.utm_hint(
        frame["latitude"],
        frame["longitude"],
        (cfg.city.latitude, cfg.city.longitude),
        zones.extent,
        (str(src.columns["longitude"]), str(src.columns["latitude"])),
    )
    if hint:
        result.hints.append(hint)
