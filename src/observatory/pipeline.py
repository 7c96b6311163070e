"""The pipeline's entry points, shared by the CLI and the Airflow DAGs.

`ingest` loads new landing files, `build` rebuilds staging, index and marts from what has
been accepted, `run` does both. Each opens the warehouse, does its work in transactions,
and returns a report; none of them prints.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import gc
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import duckdb

from observatory import audits, graph, increment, source_contracts, vintage
from observatory.config import Config
from observatory.contracts import Contract, load_contracts
from observatory.ingest import BatchReport, ingest_source
from observatory.interventions import write_register
from observatory.ops import waiting
from observatory.sql_util import run_model
from observatory.timebands import write_day_bands
from observatory.warehouse import columns_of, connect, table_exists, transaction
from observatory.zones import load_zones, write_zones

log = logging.getLogger(__name__)

#: DuckDB's memory limit while a Python index step runs (see `_duckdb_cache_released`).
_PYTHON_STEP_DUCKDB_LIMIT = "128MB"


def __getattr__(name: str) -> tuple[str, ...]:
    """`STAGING_MODELS`, `INDEX_MODELS`, `MART_MODELS`: each layer's models in build order,
    derived from the build graph (`observatory.graph`): adding a model is adding a file."""
    layers = {"STAGING_MODELS": "staging", "INDEX_MODELS": "index", "MART_MODELS": "marts"}
    if name in layers:
        return graph.layer_keys(layers[name])  # type: ignore[arg-type]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: DDL of the validated tables, from the kinds' contracts (sql/sources/<kind>.toml).
_VALIDATED_COLUMNS = source_contracts.validated_ddl()


@dataclass
class RunReport:
    """What a run did: batches ingested and models built."""

    batches: list[BatchReport] = field(default_factory=list)
    built: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: the build whose publication still holds when nothing new came in (no build ran)
    unchanged_since: str | None = None

    @property
    def failed(self) -> list[BatchReport]:
        """Batches that failed."""
        return [b for b in self.batches if b.status == "failed"]


def ingest(
    cfg: Config,
    sources: list[str] | None = None,
    now: dt.datetime | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> list[BatchReport]:
    """Ingest new files of the named sources (all by default) into the warehouse."""
    selected = [cfg.source(s) for s in sources] if sources else list(cfg.sources)
    zones = load_zones(cfg)
    own = con is None
    con = con or connect(cfg)
    try:
        with transaction(con):
            write_zones(con, cfg, zones)
        reports: list[BatchReport] = []
        for src in selected:
            done = ingest_source(con, cfg, src, zones, now)
            # files not complete yet, and since when (the monitoring DAG's `waiting` check)
            waiting.record(con, src.name, done, now or dt.datetime.now(dt.UTC))
            reports.extend(done)
        return reports
    finally:
        if own:
            con.close()


def _model_params(cfg: Config) -> dict[str, object]:
    from scipy.stats import norm  # noqa: PLC0415 (scipy.stats: 0.9 s, only for a build)

    idx = cfg.index
    return {
        "city_id": cfg.city.id,
        "city_tz": cfg.city.timezone,
        "is_synthetic": cfg.city.synthetic,
        "min_respondents": idx.min_respondents,
        "homogeneity_threshold": idx.homogeneity_threshold,
        "z_level": float(norm.ppf(0.5 + idx.confidence / 2.0)),
        "incident_family": idx.incident_family
        or next((s.incident_family for s in cfg.sources if s.kind == "incidents"), None),
    }


def _write_sources(con: duckdb.DuckDBPyConnection, cfg: Config) -> None:
    """ref.sources: every configured source with its declared coverage (nulls: inferred),
    and ref.source_coverage, the incident sources' (idx_coverage, idx_periods)."""
    con.execute(
        "create or replace table ref.sources (source_name varchar, source_kind varchar, "
        "declared_start date, declared_end date, incident_family varchar, source_level varchar)"
    )
    rows = [
        (
            s.name,
            s.kind,
            s.coverage.start.replace(day=1) if s.coverage.start else None,
            s.coverage.end.replace(day=1) if s.coverage.end else None,
            s.incident_family if s.kind == "incidents" else None,
            s.level,
        )
        for s in cfg.sources
    ]
    if rows:
        con.executemany("insert into ref.sources values (?, ?, ?, ?, ?, ?)", rows)
    # a city-level source (no zones) covers no zone's month: its rows are in no zone cell
    con.execute(
        "create or replace table ref.source_coverage as select source_name, incident_family, "
        "declared_start, declared_end from ref.sources "
        "where source_kind = 'incidents' and source_level = 'zone'"
    )


def _ensure_validated_tables(con: duckdb.DuckDBPyConnection) -> None:
    # A city may have no source of some kind yet: its staging model then reads an empty table.
    for kind, cols in _VALIDATED_COLUMNS.items():
        if not table_exists(con, "validated", kind):
            con.execute(f"create table validated.{kind} ({cols})")
            continue
        # a warehouse from an earlier version: add the contract's new columns (as nulls)
        existing = set(columns_of(con, f"validated.{kind}"))
        for spec in cols.split(", "):
            name, typ = spec.split(" ", 1)
            if name not in existing:
                con.execute(f"alter table validated.{kind} add column {name} {typ}")


def _date_range(con: duckdb.DuckDBPyConnection, tz: str) -> tuple[dt.date, dt.date]:
    row = con.execute(
        """
        select cast(timezone($tz, min(t)) as date), cast(timezone($tz, max(t)) as date) from (
            -- min and max of each column first (a local date is monotonic in the instant):
            -- converting every reading's time zone took a second on 15M rows
            select min(occurred_at) as t from validated.incidents
            union all select max(occurred_at) from validated.incidents
            union all select min(measured_at) from validated.sensors
            union all select max(measured_at) from validated.sensors
            union all select min(surveyed_at) from validated.survey
            union all select max(surveyed_at) from validated.survey
        )
        """,
        {"tz": tz},
    ).fetchall()[0]
    today = dt.datetime.now(dt.UTC).date()
    return (row[0] or today, row[1] or today)


@contextmanager
def _duckdb_cache_released(con: duckdb.DuckDBPyConnection, cfg: Config) -> Iterator[None]:
    """Python steps hold their arrays (the Monte Carlo's draws) in the same process as
    DuckDB, whose buffer pool stays full of cached pages after the ingest: shrinking its
    limit for the duration evicts them, so the two do not add up (the peak RSS budget in
    docs/performance.md). The steps' own queries read small index tables."""
    con.execute("set memory_limit = ?", [_PYTHON_STEP_DUCKDB_LIMIT])
    try:
        yield
    finally:
        release_freed_memory()
        con.execute("set memory_limit = ?", [cfg.project.memory_limit])


def release_freed_memory() -> None:
    """Give the memory a Python step freed back to the operating system.

    A step's arrays and model fits (the Monte Carlo's draws, pyfixest's demeaned panels)
    are freed when it returns, but glibc's allocator keeps most of those pages mapped for
    reuse, so the process's RSS stays at the step's peak, and DuckDB's buffers for the
    marts and the commit came on top of it: the 5-year build peaked there (issue 18,
    docs/performance.md). `malloc_trim(0)` returns the free pages (as Dask's workers do);
    elsewhere than glibc it is skipped."""
    gc.collect()  # cycles (model fits, frames) hold arrays that refcounts alone do not free
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


@contextmanager
def _older_objects_left_to_rest() -> Iterator[None]:
    """While a build runs, the garbage collector leaves alone what existed before it (the
    imported libraries: GX alone brings hundreds of thousands of objects), so the
    collections after each Python step (`release_freed_memory`) look at the build's own
    objects only: 0.01 s each instead of 0.13 s. Thawed after: garbage from before the
    build is collected then (a collection first would cost those 0.13 s once more)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # musl and others: no malloc_trim
        return None


_LIBC = _glibc()


def _build_params(
    cfg: Config, published_at: dt.datetime, order: tuple[graph.Model, ...]
) -> dict[str, object]:
    """What the SQL models bind; a parameter none of them binds is refused (a leftover)."""
    # the index package imports numpy, scipy and scikit-learn: only a build needs them
    from observatory.index import mart_params  # noqa: PLC0415

    params = {**_model_params(cfg), **mart_params(cfg.index), **_time_params(cfg, published_at)}
    # every reading; an increment binds its own to the models of increment.BY_MONTH
    params["recompute_since"] = increment.EARLIEST
    unused = graph.unused_parameters(params, order)
    if unused:  # the Python steps read the configuration, not these
        raise ValueError(f"parameters no SQL model binds: {', '.join(sorted(unused))}")
    return params


def _time_params(cfg: Config, now: dt.datetime) -> dict[str, object]:
    idx = cfg.index
    ref = idx.reference_period
    return {
        "as_of_local_date": now.astimezone(ZoneInfo(cfg.city.timezone)).date(),
        "source_stale_months": idx.source_stale_months,
        "reference_start": ref.start.replace(day=1) if ref else None,
        "reference_end": ref.end.replace(day=1) if ref else None,
        "reference_months": idx.reference_months,
    }


def build(
    cfg: Config,
    con: duckdb.DuckDBPyConnection | None = None,
    *,
    now: dt.datetime | None = None,
    build_id: str | None = None,
    serve: bool = True,
    full: bool = False,
) -> list[str]:
    """Rebuild staging, index and marts from the accepted rows, in one transaction.

    Every mart row is stamped with the build's `build_id`, `method_version` and
    `published_at`, and `marts.publication_log` records what the build published
    (`observatory.vintage`). `now` is the build's clock (a run's, `run`); `now` and
    `build_id` together rebuild a past publication exactly (`observatory reproduce`, which
    passes `serve=False`: a rebuilt past is not served). After the commit the marts are
    copied to the serving file BI tools open (`observatory.serving`).

    The build is incremental (`observatory.increment`): months closed and untouched since
    the previous publication keep their published rows; `full=True` republishes every month.
    """
    own = con is None
    con = con or connect(cfg)
    started = dt.datetime.now(dt.UTC)
    published_at = now or started
    build_id = build_id or published_at.strftime("%Y%m%dT%H%M%S%fZ")
    built: list[str] = []
    order = graph.build_order()
    params = _build_params(cfg, published_at, order)
    from observatory import progress  # noqa: PLC0415  (shown by the CLI: observatory.progress)

    try:
        with (
            _older_objects_left_to_rest(),
            transaction(con),
            progress.task("build", 3 + len(order), "steps") as bar,
        ):
            steps: list[tuple[str, float]] = []
            clock = time.perf_counter()

            def done(step: str) -> None:
                nonlocal clock
                now = time.perf_counter()
                steps.append((step, now - clock))
                clock = now
                bar.advance(1, item=step)

            _write_reference_tables(con, cfg)
            done("ref.day_bands")
            stamp = vintage.Stamp(build_id, str(params["method_version"]), published_at)
            marts = _run_graph(
                con,
                cfg,
                order=order,
                params=params,
                stamp=stamp,
                built=built,
                done=done,
                plan=(plan := _plan(con, cfg, stamp, full)),
            )
            # nothing is published unless every mart passes its audits (docs/build-graph.md)
            failures = audits.run_audits(con, load_contracts(), tuple(marts))
            if failures:
                raise audits.AuditError(failures)
            done("marts.audits")
            _log_publication(con, cfg, stamp, tuple(marts), plan)
            done("marts.publication_log")
            con.executemany(
                "insert into ops.build_steps values (?, ?, ?)",
                [[build_id, step, seconds] for step, seconds in steps],
            )
            _record_build(con, build_id, started, "succeeded", None)
    except Exception as exc:
        # The build rolled back (the marts are as they were): say so where analysts look.
        _record_build(con, build_id, started, "failed", str(exc).splitlines()[0][:500])
        if isinstance(exc, audits.AuditError):
            audits.record_failures(con, build_id, exc.failures)
        if own:
            con.close()
        raise
    try:
        if serve:  # the build is committed: a failure here leaves the previous serving copy
            from observatory.serving import publish_serving  # noqa: PLC0415

            publish_serving(cfg, con)
        return built
    finally:
        if own:
            con.close()


def _log_publication(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    stamp: vintage.Stamp,
    marts: tuple[str, ...],
    plan: increment.Plan,
) -> None:
    """marts.publication_log, and what the next build's plan starts from."""
    vintage.log_publication(con, cfg, stamp, marts)
    increment.record(con, stamp.build_id, plan)


def _plan(
    con: duckdb.DuckDBPyConnection, cfg: Config, stamp: vintage.Stamp, full: bool
) -> increment.Plan:
    return increment.plan(
        con,
        settings_hash=increment.settings_hash(cfg),
        method_version=stamp.method_version,
        tz=cfg.city.timezone,
        fear_gap_months=cfg.index.fear_gap_months,
        full=full,
    )


def _write_reference_tables(con: duckdb.DuckDBPyConnection, cfg: Config) -> None:
    """The tables the graph reads besides the accepted rows: day bands, sources, register."""
    _ensure_validated_tables(con)
    first, last = _date_range(con, cfg.city.timezone)
    # whole months: a month's exposure is all of its hours, however far its data reaches
    # (else the last month's rates depend on the day its newest record fell)
    month_end = (last.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    write_day_bands(
        con, cfg.city, cfg.time_bands, first.replace(day=1), month_end - dt.timedelta(1)
    )
    _write_sources(con, cfg)
    write_register(con, cfg)  # ref.interventions, ref.evaluation_settings


def _run_graph(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    *,
    order: tuple[graph.Model, ...],
    params: dict[str, object],
    stamp: vintage.Stamp,
    built: list[str],
    done: Callable[[str], None],
    plan: increment.Plan,
) -> list[str]:
    """Every model of the graph in order; the marts built (stamped), in that order.

    The SQL index models run over every month; the plan is settled before the Python
    steps, which read its open months (`increment.months_to_compute`); a period-grained
    mart then keeps the published rows of the months the plan freezes."""
    marts: list[str] = []
    frozen: tuple[dt.date, ...] | None = None
    contracts: dict[str, Contract] = {}  # read once, by the first mart that keeps rows
    increment.forget(con)  # (a failed build rolls its plan back with the rest)
    for model in order:
        if frozen is None and (model.kind == "python" or model.layer == "marts"):
            # idx_periods (open months) and idx_incidents (the reference) have run: settle
            # the plan before the Python steps, which compute only its open months
            missing = {"index.idx_periods", "index.idx_incidents"} - set(built)
            if missing:
                raise RuntimeError(f"the build graph runs {model.key} before {sorted(missing)}")
            frozen = increment.settle(con, plan)
            increment.expose(con, plan)
            log.info("build %s: %s; %d month(s) frozen", stamp.build_id, plan.reason, len(frozen))
        if model.kind == "python":
            with _duckdb_cache_released(con, cfg):
                built.extend(f"index.{t}" for t in model_step(model.key)(con, cfg.index))
            done(f"index.{model.key}")
        elif model.layer == "staging":
            # Views: staging adds a band and local time to validated rows; writing it out
            # would be a third full copy of the largest feeds (docs/performance.md).
            run_model(con, "staging", model.key, params, materialized="view")
            built.append(f"staging.{model.key}")
            done(built[-1])
        elif model.key in increment.BY_MONTH:  # from the first month it may republish
            since = increment.recompute_since(plan)
            increment.run_by_month(con, model.key, params, since, cfg.city.timezone)
            built.append(f"index.{model.key}")
            done(built[-1])
        elif model.layer == "index":
            run_model(con, "index", model.key, params)
            built.append(f"index.{model.key}")
            done(built[-1])
        else:
            kept = increment.snapshot(con, model.key, frozen)
            run_model(con, "marts", model.key, params)
            vintage.stamp_mart(con, model.key, stamp)
            if kept:
                contracts = contracts or load_contracts()
                increment.restore(con, model.key, frozen, contracts[model.key].grain)
            marts.append(model.key)
            built.append(f"marts.{model.key}")
            done(built[-1])
    increment.forget(con)
    return marts


def model_step(key: str):  # noqa: ANN201 (a PythonStep)
    """The Python step of the graph called `key`."""
    from observatory.index.steps import PYTHON_STEPS  # noqa: PLC0415

    return PYTHON_STEPS[key]


def _record_build(
    con: duckdb.DuckDBPyConnection,
    build_id: str,
    started: dt.datetime,
    status: str,
    error: str | None,
) -> None:
    con.execute(
        "insert into ops.builds values (?, ?, ?, ?, ?)",
        [build_id, started, dt.datetime.now(dt.UTC), status, error],
    )


def run(cfg: Config, now: dt.datetime | None = None, *, full: bool = False) -> RunReport:
    """Ingest every source, then build: the whole pipeline for one city.

    When nothing came in since the last publication (same batches, settings and method,
    no late declaration, same calendar month) the build is skipped: it would publish the
    same figures (`increment.nothing_new`). `full=True` always builds, every month. `now`
    is the run's clock (default: the wall clock): the newest acceptable timestamp, and the
    build's publication time, which decides the provisional months (the benchmark runs
    its daily increment the morning after the day it adds)."""
    started = time.perf_counter()
    con = connect(cfg)
    try:
        report = RunReport(batches=ingest(cfg, now=now, con=con))
        same = None
        if not full:
            from observatory.index.steps import METHOD_VERSION  # noqa: PLC0415

            same = increment.nothing_new(
                con,
                settings_hash=increment.settings_hash(cfg),
                method_version=METHOD_VERSION,
                tz=cfg.city.timezone,
                now=now,
            )
        if same:
            log.info("nothing new since build %s: its publication stands", same)
            report.unchanged_since = same
        else:
            report.built = build(cfg, con=con, full=full, now=now)
    finally:
        con.close()
    report.seconds = time.perf_counter() - started
    return report
