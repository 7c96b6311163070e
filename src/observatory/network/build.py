"""`observatory network build`: the network warehouse from the members' warehouses.

Every member warehouse is ATTACHed READ_ONLY (or, under Airflow, the copy its snapshot task
took while holding the city's pool); the network warehouse is the only file written. Its
tables (docs/tables.md, "Network tables"), rebuilt whole in one transaction:

* `marts.network_members`: each city, its language and zones, or why it is not compared;
* `marts.network_cities`: city x band x month: core-item perception with its interval and
  n, the night-minus-day gap with its interval, the incident ratio and the composite on
  common goalposts, each with the reason where it is missing;
* `marts.network_ranks`: the cities' ranks per measure x band x month with rank intervals;
* `marts.network_coverage`: which city has which source for which months.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from observatory import progress
from observatory.network import estimate as est
from observatory.network import members as mem
from observatory.network.config import NETWORK_METHOD_VERSION, NetworkConfig
from observatory.network.core_items import BAND_ITEMS
from observatory.network.tables import TABLES, assemble
from observatory.vintage import Stamp, stamp_mart

log = logging.getLogger(__name__)


@dataclass
class NetworkReport:
    """What a network build did."""

    warehouse: Path
    build_id: str
    compared: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class CityData:
    """What the network read from one member (empty for a member it could not read)."""

    member: mem.Member
    respondents: pd.DataFrame
    withheld: pd.DataFrame
    incidents: pd.DataFrame
    coverage: pd.DataFrame
    n_zones: int = 0


def build_network(
    net: NetworkConfig, from_snapshots: bool = False, now: dt.datetime | None = None
) -> NetworkReport:
    """Read every member, estimate the comparable figures, write the network warehouse.

    Args:
        net: the validated network file.
        from_snapshots: ATTACH the copies under `project.snapshots` (Airflow) instead of
            the members' own warehouses (the command line, where nothing else writes).
        now: the publication time (default: the clock), stamped on every row.
    """
    started = time.monotonic()
    published_at = now or dt.datetime.now(dt.UTC)
    stamp = Stamp(published_at.strftime("%Y%m%dT%H%M%S%fZ"), NETWORK_METHOD_VERSION, published_at)
    report = NetworkReport(net.warehouse_path, stamp.build_id)
    members = _distinct(mem.load_member(p) for p in net.member_paths)
    net.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(net.warehouse_path))
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema if not exists marts")
        data = []
        with progress.task("network build", total=len(members), unit="cities") as bar:
            for member in members:
                bar.update(item=member.city_id)
                data.append(_read(con, net, member, from_snapshots))
                bar.advance(1, rows=len(data[-1].respondents))
        frames = assemble(net, data, _estimate(net, data))
        con.execute("begin transaction")
        for name in TABLES:
            con.register("frame", frames[name])
            con.execute(f"create or replace table marts.{name} as select * from frame")  # noqa: S608 (mart names from code (TABLES))
            con.unregister("frame")
            stamp_mart(con, name, stamp)
            report.rows[name] = len(frames[name])
        con.execute("commit")
        for member in members:
            if member.alias and member.problem is None:
                con.execute(f"detach {member.alias}")
    finally:
        con.close()
    report.compared = [d.member.city_id for d in data if d.member.problem is None]
    report.problems = {m.city_id: m.problem for m in members if m.problem}
    report.seconds = time.monotonic() - started
    log.info("network %s built: %s", net.network.id, report.rows)
    return report


def _distinct(members: object) -> list[mem.Member]:
    seen: set[str] = set()
    out = []
    for member in members:  # type: ignore[attr-defined]
        if member.cfg and member.city_id in seen:
            member.problem = f"city id {member.city_id!r} is already a member (another file)"
            member.alias = ""
        seen.add(member.city_id)
        out.append(member)
    return out


def _read(
    con: duckdb.DuckDBPyConnection, net: NetworkConfig, member: mem.Member, snapshots: bool
) -> CityData:
    empty = pd.DataFrame()
    if member.problem is None and member.cfg is not None:
        warehouse = (
            net.snapshot_dir / f"{member.city_id}.duckdb"
            if snapshots
            else member.cfg.warehouse_path
        )
        member.problem = mem.attach(con, member, warehouse)
        if member.problem is not None and warehouse.is_file():
            con.execute(f"detach {member.alias}")
    if member.problem is not None:
        log.warning("network: %s not compared: %s", member.city_id, member.problem)
        return CityData(member, empty, empty, empty, empty)
    n_zones = con.execute(f"select count(*) from {member.alias}.ref.zones").fetchall()[0][0]  # noqa: S608 (alias m_<city id>, a checked identifier)
    return CityData(
        member,
        respondents=mem.core_respondents(con, member),
        withheld=mem.withheld_totals(con, member),
        incidents=mem.incidents(con, member, net.method.incident_family),
        coverage=mem.coverage(con, member),
        n_zones=int(n_zones),
    )


@dataclass
class Estimates:
    """The network grid: cities x bands x months, with every figure and its draws."""

    periods: pd.DatetimeIndex
    perception: list[est.Perception]
    published: np.ndarray  # (C, 2, P)
    reasons: np.ndarray  # (C, 2, P) object: why a perception figure is missing
    ratio: np.ndarray  # (C, 2, P)
    ratio_draws: np.ndarray  # (R, C, 2, P)
    composite: np.ndarray  # (C, 2, P)
    composite_draws: np.ndarray  # (R, C, 2, P)
    composite_ok: np.ndarray  # (C, 2, P)


def _months(data: list[CityData]) -> pd.DatetimeIndex:
    months: set[pd.Timestamp] = set()
    for d in data:
        for frame in (d.respondents, d.incidents):
            if not frame.empty:
                months |= set(pd.to_datetime(frame["period_start"]))
    return pd.DatetimeIndex(sorted(months))


def _rng(net: NetworkConfig, city_id: str, stream: int) -> np.random.Generator:
    """A city's own seeded stream: its draws do not depend on the other members."""
    return np.random.default_rng([net.method.seed, zlib.crc32(city_id.encode()), stream])


def _estimate(net: NetworkConfig, data: list[CityData]) -> Estimates:
    m = net.method
    periods = _months(data)
    n_c, n_p, draws = len(data), len(periods), m.draws
    perception, reasons = [], np.full((n_c, 2, n_p), None, dtype=object)
    published = np.zeros((n_c, 2, n_p), dtype=bool)
    counts = np.full((n_c, 2, n_p), np.nan)
    exposure = np.zeros((n_c, 2, n_p))
    count_draws = np.full((draws, n_c, 2, n_p), np.nan)
    for c, d in enumerate(data):
        perc = est.city_perception(d.respondents, periods, draws, _rng(net, d.member.city_id, 0))
        perception.append(perc)
        published[c], reasons[c] = _disclosure(net, d, perc, periods)
        if not d.incidents.empty:
            t = periods.get_indexer(pd.to_datetime(d.incidents["period_start"]))
            b = pd.Index(est.BANDS).get_indexer(d.incidents["time_band"])
            ok = (t >= 0) & (b >= 0)
            counts[c, b[ok], t[ok]] = d.incidents["incident_count"].to_numpy(float)[ok]
            exposure[c, b[ok], t[ok]] = d.incidents["exposure_hours"].fillna(0).to_numpy()[ok]
        count_draws[:, c] = est.incident_draws(counts[c], draws, _rng(net, d.member.city_id, 1))
    ref = m.reference_period
    start, end = pd.Timestamp(ref.start.replace(day=1)), pd.Timestamp(ref.end.replace(day=1))
    in_reference = np.asarray((periods >= start) & (periods <= end))
    ratio, ratio_draws = est.incident_ratios(counts, count_draws, exposure, in_reference)
    point = np.stack([p.point for p in perception]) if perception else np.zeros((0, 2, n_p))
    p_draws = (
        np.stack([p.draws for p in perception], axis=1)
        if perception
        else np.zeros((draws, 0, 2, n_p))
    )
    comp = est.composite(
        est.component(point, m.goalposts["perception"]),
        est.component(ratio, m.goalposts["incident_ratio"]),
        m.weights,
    )
    comp_draws = est.composite(
        est.component(p_draws, m.goalposts["perception"]),
        est.component(ratio_draws, m.goalposts["incident_ratio"]),
        m.weights,
    )
    composite_ok = published & np.isfinite(comp)
    return Estimates(
        periods,
        perception,
        published,
        reasons,
        ratio,
        ratio_draws,
        comp,
        comp_draws,
        composite_ok,
    )


def _disclosure(
    net: NetworkConfig, d: CityData, perc: est.Perception, periods: pd.DatetimeIndex
) -> tuple[np.ndarray, np.ndarray]:
    """Which band-months of a city are published, and why the others are not."""
    shape = (2, len(periods))
    reasons = np.full(shape, None, dtype=object)
    if d.member.problem is not None:
        reasons[:] = f"not compared: {d.member.problem}"
        return np.zeros(shape, dtype=bool), reasons
    if d.member.cfg is None:  # a member without a problem always has its config
        raise RuntimeError(f"network member {d.member.path}: no configuration loaded")
    k = max(net.method.min_respondents, d.member.cfg.index.min_respondents)
    withheld = np.zeros(shape, dtype=bool)
    if not d.withheld.empty:
        t = periods.get_indexer(pd.to_datetime(d.withheld["period_start"]))
        b = pd.Index(est.BANDS).get_indexer(d.withheld["time_band"])
        ok = (t >= 0) & (b >= 0)
        withheld[b[ok], t[ok]] = d.withheld["is_total_withheld"].to_numpy(bool)[ok]
    n = perc.n_respondents
    for b, band in enumerate(est.BANDS):
        core = BAND_ITEMS[band]
        if core not in d.member.core_map:
            reasons[b, :] = f"no survey item is mapped onto {core}"
            continue
        reasons[b] = np.where(
            n[b] == 0,
            "no answers to the core item this month",
            np.where(
                n[b] < k,
                [f"fewer than {k} respondents ({int(v)})" for v in n[b]],
                np.where(withheld[b], "the city withholds its total (disclosure control)", None),
            ),
        )
    return np.equal(reasons, None), reasons
