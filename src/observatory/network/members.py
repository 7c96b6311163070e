"""Reading a member city for the network: its project, and what its warehouse holds.

Each member's warehouse is ATTACHed READ_ONLY to the network's connection under an alias
(`m_<city_id>`); nothing here writes to it. What is read:

* the core-item answers (`staging.stg_survey`, mapped by the city's `[sources.items] core`),
  one row per respondent x band (the mean of their core answers of that band);
* the band-months whose city total the city itself withholds (`idx.idx_suppression`);
* the network family's incident counts and the resident-hours of each band-month;
* which sources cover which months, for `marts.network_coverage`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from observatory.config import Config, ConfigError, load_config
from observatory.index.steps import METHOD_VERSION
from observatory.network.core_items import BAND_ITEMS
from observatory.sql_util import literal

#: Tables a member's warehouse must hold for the network to read it.
REQUIRED = (
    "staging.stg_survey",
    "idx.idx_suppression",
    "idx.idx_band_hours",
    "ref.zones",
    "marts.incident_families",
    "marts.publication_log",
)


@dataclass
class Member:
    """One member city as the network sees it: its project (or why it has none)."""

    path: Path
    cfg: Config | None = None
    problem: str | None = None
    alias: str = ""
    #: core item id -> [(source, item)] of the city's own items mapped onto it
    core_map: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def city_id(self) -> str:
        """The city's id, or the file's stem when its project does not load."""
        return self.cfg.city.id if self.cfg else self.path.stem

    @property
    def city_name(self) -> str:
        """The city's name (the file name when its project does not load)."""
        return self.cfg.city.name if self.cfg else str(self.path)


def load_member(path: Path) -> Member:
    """The member's project, or a Member carrying the problem (never raises)."""
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        return Member(path, problem=f"project file does not load: {exc}")
    core_map: dict[str, list[tuple[str, str]]] = {}
    for src in cfg.sources:
        if src.kind != "survey" or src.aggregate:
            continue
        for item_id, item in src.items.items():
            if item.core:
                core_map.setdefault(item.core, []).append((src.name, item_id))
    return Member(path, cfg=cfg, alias=f"m_{cfg.city.id}", core_map=core_map)


def snapshot(cfg: Config, folder: Path) -> Path:
    """Copy the city's warehouse (with its WAL, if any) to `folder/<city>.duckdb`, atomically.

    Airflow runs this holding the city's one-slot pool, so no task writes the file while it
    is copied; the network build then ATTACHes the copy and never waits for a city.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{cfg.city.id}.duckdb"
    source = cfg.warehouse_path
    if not source.is_file():
        raise FileNotFoundError(f"{source}: city {cfg.city.id} has no warehouse yet")
    partial = target.with_suffix(".duckdb.partial")
    shutil.copyfile(source, partial)
    wal = Path(f"{source}.wal")
    if wal.is_file():
        shutil.copyfile(wal, Path(f"{partial}.wal"))
        Path(f"{partial}.wal").replace(Path(f"{target}.wal"))
    else:
        Path(f"{target}.wal").unlink(missing_ok=True)
    partial.replace(target)
    return target


def attach(con: duckdb.DuckDBPyConnection, member: Member, warehouse: Path) -> str | None:
    """ATTACH the member's warehouse READ_ONLY; the problem if it cannot be read."""
    if not warehouse.is_file():
        return f"no warehouse at {warehouse}: run the city's pipeline first"
    # ATTACH takes no bound parameters: the path is a checked literal; the alias is
    # `m_` + the city id, an identifier (config.IDENTIFIER).
    con.execute(f"attach {literal(warehouse.as_posix())} as {member.alias} (read_only)")
    have = {
        f"{s}.{t}"
        for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = ?",
            [member.alias],
        ).fetchall()
    }
    missing = [t for t in REQUIRED if t not in have]
    if missing:
        return f"warehouse {warehouse} lacks {missing}: rebuild the city (`observatory run`)"
    version = con.execute(
        f"select max(method_version) from {member.alias}.marts.publication_log"  # noqa: S608 (alias m_<city id>, a checked identifier)
    ).fetchall()[0][0]
    if version != METHOD_VERSION:
        return f"built with method {version}, the network needs {METHOD_VERSION}: rebuild it"
    return None


def core_respondents(con: duckdb.DuckDBPyConnection, member: Member) -> pd.DataFrame:
    """One row per respondent x band of the city's core-item answers (score 0-100)."""
    rows = [
        (src, item, core)
        for core in BAND_ITEMS.values()
        for src, item in member.core_map.get(core, [])
    ]
    if not rows:
        return pd.DataFrame(
            columns=["person", "time_band", "period_start", "score", "weight", "zone_id"]
        )
    mapping = pd.DataFrame(rows, columns=["source_name", "item_id", "core_item_id"])
    con.register("core_mapping", mapping)
    try:
        return con.execute(
            f"""
            select
                coalesce(s.respondent_id, s.response_id) as person,
                s.time_band,
                s.period_start,
                sum(s.score * s.weight) / sum(s.weight) as score,
                avg(s.weight) as weight,
                any_value(s.zone_id) as zone_id,
                any_value(s.stratum_id) as stratum_id,
                any_value(s.cluster_id) as cluster_id,
            from {member.alias}.staging.stg_survey as s
            inner join core_mapping as m using (source_name, item_id)
            where s.score is not null
                and s.weight > 0
                and not coalesce(s.is_aggregate, false)
            group by all
            """  # noqa: S608 (alias m_<city id>, a checked identifier)
        ).df()
    finally:
        con.unregister("core_mapping")


def withheld_totals(con: duckdb.DuckDBPyConnection, member: Member) -> pd.DataFrame:
    """Band-months whose city total the city withholds (its own disclosure control)."""
    return con.execute(
        f"""
        select time_band, period_start, bool_or(is_total_suppressed) as is_total_withheld
        from {member.alias}.idx.idx_suppression
        group by all
        """  # noqa: S608 (alias m_<city id>, a checked identifier)
    ).df()


def incidents(con: duckdb.DuckDBPyConnection, member: Member, family: str) -> pd.DataFrame:
    """Counts of the network's incident family and resident-hours, per band-month."""
    return con.execute(
        f"""
        with population as (
            select sum(population) as residents
            from {member.alias}.ref.zones
            where population > 0
        ),

        counts as (
            select
                time_band,
                period_start,
                sum(incident_count) as incident_count,
            from {member.alias}.marts.incident_families
            where incident_family = ? and has_incident_coverage
            group by all
        )

        select
            c.time_band,
            c.period_start,
            c.incident_count,
            p.residents * h.band_hours as exposure_hours,
        from counts as c
        inner join {member.alias}.idx.idx_band_hours as h using (time_band, period_start)
        cross join population as p
        """,  # noqa: S608 (alias m_<city id>, a checked identifier; values bound)
        [family],
    ).df()


def coverage(con: duckdb.DuckDBPyConnection, member: Member) -> pd.DataFrame:
    """Each source of the city with its kind, family and first and last month of data."""
    if member.cfg is None:
        raise RuntimeError(f"network member {member.path}: no configuration loaded")
    rows = []
    table = {"survey": "stg_survey", "incidents": "stg_incidents", "sensors": "stg_sensors"}
    for src in member.cfg.sources:
        first, last, n = con.execute(
            f"""
            select min(period_start), max(period_start), count(distinct period_start)
            from {member.alias}.staging.{table[src.kind]}
            where source_name = ?
            """,  # noqa: S608 (alias m_<city id>, a checked identifier; kind a Literal; values bound)
            [src.name],
        ).fetchall()[0]
        cores = sorted(
            {c for c, pairs in member.core_map.items() for s, _ in pairs if s == src.name}
        )
        rows.append(
            {
                "source_name": src.name,
                "source_kind": src.kind,
                "incident_family": src.incident_family if src.kind == "incidents" else None,
                "first_period": first,
                "last_period": last,
                "n_periods": int(n or 0),
                "core_items": cores,
            }
        )
    return pd.DataFrame(rows)
