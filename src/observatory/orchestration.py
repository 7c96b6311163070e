"""Airflow orchestration: the observatory's DAGs, generated from its project file(s).

Which projects Airflow serves is decided here and only here: the environment variable
`OBSERVATORY_CONFIG` holds the path of a project file (several, separated by ':', for several
cities), and defaults to the demo's `var/demo/observatory.toml` in this repository. Per city:

- `<city>.ingest.<source>`, one per configured source, on that source's `schedule`: reads,
  validates and loads new landing files (`pipeline.ingest`); updates the source's Asset
  whenever the index has not yet read one of the source's batches (even on a retry whose
  files were all skipped); holds a batch that quarantined too much (`check_batches` red,
  an alert) until it is released by triggering the DAG with `{"release_batch": ID}`;
  rebuilds the Data Docs and the quarantine summary;
- `<city>.index`, scheduled on those Assets: rebuilds staging -> index -> marts, then exports;
- `<city>.monitor`, on `[monitoring] schedule` and unpaused from the start: freshness (load
  time and data time), quarantine spikes, index shifts, landing files stuck waiting.

Alerts (`observatory.ops.alerts`) go to the log and, per `[monitoring] notifier`, by e-mail
and to a webhook: on every failed task, and when an ingest run misses its deadline.

`OBSERVATORY_NETWORK` may name network files (':'-separated): their member cities are served
too, and each network gets `<network>.network`, scheduled on its members' marts Assets
(observatory.network.dags). A project file that does not load disables only its own city's
DAGs: the others load, and the DAG file shows one import error naming the broken file(s).

Parsing a DAG file only reads the small project TOML (to learn the city, its sources and
their schedules); DuckDB and Great Expectations are imported inside the tasks. Every task
that opens the warehouse (DuckDB: one writer, and no reader beside a writer) takes the
city's one-slot pool `observatory_<city>`. See docs/operations.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from itertools import takewhile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import (
    DAG,
    Asset,
    BaseNotifier,
    DeadlineAlert,
    DeadlineReference,
    Param,
    SyncCallback,
    dag,
    get_current_context,
    task,
)
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from croniter import croniter

from observatory.config import Config, ConfigError, SourceConfig, load_config
from observatory.ops import warm
from observatory.ops.alerts import Alert, links, send

log = logging.getLogger(__name__)

CONFIG_ENV = "OBSERVATORY_CONFIG"
NETWORK_ENV = "OBSERVATORY_NETWORK"
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "var" / "demo" / "observatory.toml"
#: Fixed and in the past: with catchup off, only the latest interval is ever scheduled.
START_DATE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
_BATCH_FIELDS = (
    "batch_id", "file", "status", "rows_read", "rows_accepted", "rows_quarantined", "error",
    "held",
)  # fmt: skip
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "observatory",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
}


# --- which projects, and their names in Airflow -------------------------------------------


def _env_paths(name: str) -> list[Path]:
    raw = os.environ.get(name, "").strip()
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def network_paths() -> list[Path]:
    """The network files Airflow serves: `$OBSERVATORY_NETWORK` (':'-separated), or none."""
    return _env_paths(NETWORK_ENV)


def config_paths() -> list[Path]:
    """The project files Airflow serves: `$OBSERVATORY_CONFIG` (':'-separated) and the
    members of every served network; the demo city when neither is set."""
    paths = _env_paths(CONFIG_ENV)
    for network in network_paths():
        from observatory.network.config import load_network  # noqa: PLC0415

        try:
            paths.extend(load_network(network).member_paths)
        except ConfigError:
            continue  # reported as the network DAG's import error (build_dags)
    if not paths and not os.environ.get(CONFIG_ENV, "").strip():
        return [DEFAULT_CONFIG]
    return list(dict.fromkeys(paths))


def served_projects() -> list[tuple[Path, Config | str]]:
    """Every served project: its validated config, or the problem that keeps it out.

    A problem never stops the other projects: a missing or broken file, or a city id that
    an earlier file already uses (ids namespace DAG ids), disables only that file's city.
    """
    projects: list[tuple[Path, Config | str]] = []
    seen: dict[str, Path] = {}
    for path in config_paths():
        if not path.is_file():
            projects.append(
                (path, f"{path}: project file not found. Set {CONFIG_ENV} to your "
                 "observatory.toml (or run `make demo` for the demo city).")
            )  # fmt: skip
            continue
        try:
            cfg = load_config(path)
        except ConfigError as exc:
            projects.append((path, str(exc)))
            continue
        if cfg.city.id in seen:
            projects.append(
                (path, f"{path}: city id {cfg.city.id!r} is already served by {seen[cfg.city.id]}")
            )
            continue
        seen[cfg.city.id] = path
        projects.append((path, cfg))
    return projects


def load_projects() -> list[tuple[Path, Config]]:
    """Every served project, validated; raises on the first that does not load."""
    projects = []
    for path, cfg in served_projects():
        if isinstance(cfg, str):
            raise ConfigError(cfg)
        projects.append((path, cfg))
    return projects


def pool_names() -> list[str]:
    """The one-slot pools of every served city and network that loads (`make airflow`)."""
    from observatory.network.dags import network_pool  # noqa: PLC0415

    names = [pool_name(cfg) for _, cfg in served_projects() if not isinstance(cfg, str)]
    for path in network_paths():
        from observatory.network.config import load_network  # noqa: PLC0415

        try:
            names.append(network_pool(load_network(path)))
        except ConfigError:
            continue
    return names


def pool_name(cfg: Config) -> str:
    """The one-slot pool that serialises every task touching this city's warehouse."""
    return f"observatory_{cfg.city.id}"


def source_asset(cfg: Config, src: SourceConfig) -> Asset:
    """The Asset a source's ingest DAG updates when it loads a new batch."""
    return Asset(
        name=f"{cfg.city.id}.{src.name}",
        uri=f"x-observatory://{cfg.city.id}/validated/{src.name}",
        group="observatory",
        extra={"kind": src.kind, "warehouse": str(cfg.warehouse_path)},
    )


def marts_asset(cfg: Config) -> Asset:
    """The Asset the index DAG updates when the marts are rebuilt."""
    return Asset(
        name=f"{cfg.city.id}.marts",
        uri=f"x-observatory://{cfg.city.id}/marts",
        group="observatory",
        extra={"warehouse": str(cfg.warehouse_path)},
    )


def exports_asset(cfg: Config) -> Asset:
    """The Asset of the exported files (Parquet and CSV) dashboards read."""
    return Asset(
        name=f"{cfg.city.id}.exports",
        uri=f"x-observatory://{cfg.city.id}/exports",
        group="observatory",
        extra={"folder": str(cfg.resolve(cfg.project.exports))},
    )


def final_asset(cfg: Config) -> Asset:
    """The Asset announced when the exports hold a final (not provisional) latest month."""
    return Asset(
        name=f"{cfg.city.id}.final",
        uri=f"x-observatory://{cfg.city.id}/final",
        group="observatory",
        extra={"folder": str(cfg.resolve(cfg.project.exports))},
    )


def _timetable(path: Path, cfg: Config, expression: str, where: str) -> CronDataIntervalTimetable:
    if not croniter.is_valid(expression):
        raise ConfigError(
            f"{path}: {where}: schedule {expression!r} is not a "
            "cron expression or preset (e.g. '@hourly', '@daily', '@monthly', '0 6 * * 1')"
        )
    return CronDataIntervalTimetable(expression, timezone=cfg.city.timezone)


def _run_time(context: Any) -> dt.datetime:
    """The run's point in time: the end of its data interval, else (a manual run without a
    logical date) the moment it was asked to run. Fixed for the run, so a retry or a clear
    sees the same value; never the clock at execution."""
    end = context.get("data_interval_end")
    return end if end is not None else context["dag_run"].run_after


def _has_interval(context: Any) -> bool:
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return start is not None and end is not None and end > start


def _window(context: Any, cfg: Config) -> tuple[dt.datetime, dt.datetime]:
    """The run's data interval; for a manual run without one, the monitoring period before
    the moment it was asked to run."""
    if _has_interval(context):
        return context["data_interval_start"], context["data_interval_end"]
    until = _run_time(context)
    it = croniter(cfg.monitoring.schedule, until.astimezone(ZoneInfo(cfg.city.timezone)))
    last, before = it.get_prev(dt.datetime), it.get_prev(dt.datetime)
    return until - (last - before), until


# --- alerts -------------------------------------------------------------------------------


class MonitoringAlert(AirflowFailException):
    """A check found something: the task fails (without retries) and carries the findings."""

    def __init__(self, check: str, findings: list[dict[str, Any]]) -> None:
        lines = "\n".join(f"  - {f['message']}" for f in findings)
        super().__init__(f"{check}: {len(findings)} finding(s)\n{lines}")
        self.findings = findings


def _base_url() -> str | None:
    from airflow.configuration import conf  # noqa: PLC0415

    return conf.get("api", "base_url", fallback=None) or None


def _alert(cfg: Config, headline: str, **fields: Any) -> Alert:
    return Alert(city=cfg.city.id, headline=headline, links=links(cfg, _base_url()), **fields)


class AlertNotifier(BaseNotifier):
    """Failure callback of every observatory task: one alert per failed task."""

    def __init__(self, config_path: str) -> None:
        super().__init__()
        self.config_path = config_path

    def notify(self, context: Any) -> None:
        """Build the alert from the failed task's context and send it."""
        cfg = load_config(self.config_path)
        ti, error = context["ti"], context.get("exception")
        findings = getattr(error, "findings", [])
        first = str(error).splitlines()[0] if error else "task failed"
        send(
            cfg,
            _alert(
                cfg,
                f"{ti.dag_id}: {ti.task_id} failed"
                + (f" ({len(findings)} finding(s))" if findings else ""),
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                error=first,
                findings=findings,
            ),
            context,
        )


def deadline_missed(config_path: str, context: dict[str, Any] | None = None) -> None:
    """Deadline callback of the ingest DAGs (Airflow's DeadlineAlert): the run is late."""
    cfg = load_config(config_path)
    run = (context or {}).get("dag_run") or {}
    deadline = (context or {}).get("deadline") or {}
    dag_id, run_id = run.get("dag_id"), run.get("dag_run_id") or run.get("run_id")
    minutes = cfg.monitoring.ingest_deadline_minutes
    message = (
        f"{dag_id} run {run_id} has not finished {minutes:g} min after it was queued "
        f"(deadline {deadline.get('deadline_time')}). A task may be stuck, or waiting for the "
        f"pool observatory_{cfg.city.id} behind another run: look at the run's tasks and "
        "their logs; a landing file may be unusually large."
    )
    send(
        cfg,
        _alert(
            cfg,
            f"{dag_id}: deadline missed",
            dag_id=dag_id,
            run_id=run_id,
            error=message,
            findings=[{"check": "deadline", "subject": dag_id, "message": message}],
        ),
    )


def _defaults(path: Path, cfg: Config) -> dict[str, Any]:
    return {
        **DEFAULT_ARGS,
        "on_failure_callback": [AlertNotifier(str(path))],
        "execution_timeout": dt.timedelta(minutes=cfg.monitoring.task_timeout_minutes),
    }


def landing_problem(cfg: Config, src: SourceConfig) -> str | None:
    """Why the source's landing path cannot be read (a missing folder or file), if so."""
    if src.fetch:
        return None  # the fetcher creates its folder
    pattern = cfg.resolve(src.path)
    fixed = Path(*takewhile(lambda part: not any(c in part for c in "*?["), pattern.parts))
    if fixed == pattern:
        if pattern.is_file():
            return None
        return (
            f"source {src.name}: the landing file {pattern} does not exist (path = "
            f"{src.path!r}): deliver it there, or fix the source's path"
        )
    if fixed.is_dir():
        return None
    return (
        f"source {src.name}: the landing folder {fixed} does not exist (path = {src.path!r}): "
        "create or mount it, or fix the source's path"
    )


def _who(context: Any) -> str:
    run = context.get("dag_run")
    user = getattr(run, "triggering_user_name", None)
    return f"airflow:{user}" if user else "airflow"


def _held_findings(summary: dict[str, Any], dag_id: str) -> list[dict[str, Any]]:
    return [
        {
            "check": "hold",
            "subject": b["batch_id"],
            "message": (
                f"{b['file']}: held, not published: {b['held']}. The rows are loaded and the "
                "quarantine lists them (`observatory quarantine show --batch "
                f"{b['batch_id']}`). Fix the mapping and run `observatory quarantine release "
                f"{summary['source']} --batch {b['batch_id']}`, or publish the batch as it "
                f"is: `observatory batches release {b['batch_id']} --note ...`, or trigger "
                f'{dag_id} with {{"release_batch": "{b["batch_id"]}"}}.'
            ),
        }
        for b in summary["batches"]
        if b["status"] == "loaded" and b["held"]
    ]


# --- the DAGs -----------------------------------------------------------------------------


def _ingest(config_path: str, source: str, context: Any) -> dict[str, Any]:
    """The ingest task (see `ingest_dag`)."""
    preloaded = warm.preloaded()  # before this task's own imports
    from observatory import pipeline  # noqa: PLC0415 (heavy: DuckDB, GX)
    from observatory.ops import holds  # noqa: PLC0415
    from observatory.warehouse import connect  # noqa: PLC0415

    now = _run_time(context)
    project = load_config(config_path)
    problem = landing_problem(project, project.source(source))
    if problem:
        raise AirflowFailException(problem)
    params = context.get("params") or {}
    con = connect(project)
    try:
        released = None
        if params.get("release_batch"):
            try:
                released = holds.release(
                    project, params["release_batch"], by=_who(context),
                    note=params.get("note"), con=con, source=source,
                )  # fmt: skip
            except ConfigError as exc:
                raise AirflowFailException(str(exc)) from exc
            log.info("released %s", released)
        reports = pipeline.ingest(project, sources=[source], now=now, con=con)
        pending = holds.unconsumed(con, source)
    finally:
        con.close()
    batches = [{k: getattr(b, k) for k in _BATCH_FIELDS} for b in reports]
    log.info("ingest %s as of %s: %s; not yet indexed: %s", source, now, batches, pending)
    return {
        "source": source,
        "as_of": now.isoformat(),
        "batches": batches,
        "unconsumed": pending,
        "released": released["batch_id"] if released else None,
        "preloaded": preloaded,
    }


def _check_batches(summary: dict[str, Any], dag_id: str) -> None:
    """The check_batches task: rejected files and held batches are findings."""
    failed = [
        {
            "check": "batch",
            "subject": b["file"],
            "message": f"{b['file']}: rejected, nothing loaded: {b['error']}. Fix the file "
            "(or the source's mapping) and the next run loads it.",
        }
        for b in summary["batches"]
        if b["status"] == "failed"
    ]
    found = failed + _held_findings(summary, dag_id)
    if found:
        raise MonitoringAlert(
            f"{summary['source']}: {len(failed)} file(s) rejected, "
            f"{len(found) - len(failed)} batch(es) held",
            found,
        )


def ingest_dag(path: Path, cfg: Config, src: SourceConfig) -> DAG:
    """The ingest DAG of one source: load new files, announce what the index has not read
    (Asset), report failed and held batches, rebuild the Data Docs."""
    asset = source_asset(cfg, src)
    dag_id = f"{cfg.city.id}.ingest.{src.name}"
    mon = cfg.monitoring
    doc = f"""### Ingest `{src.name}` ({src.kind}) for {cfg.city.name}
Every `{src.schedule}` this DAG loads the **new** files matching `{src.path}` into the
warehouse `{cfg.warehouse_path}`: each file is one batch, validated by the
`{src.suite_name}` expectation suite; good rows go to `validated.{src.kind}`, bad rows to
`quarantine.{src.kind}` with the reason. A file already loaded (same bytes) is skipped, so
re-running or clearing a run never duplicates data.

* **ingest** is red: the warehouse could not be written (retried twice), or the landing
  folder does not exist (the message names it).
* **check_batches** is red: a file was rejected as a whole (see `ops.batches.error`), or a
  batch is **held**: more than {_share(cfg, src):.0%} of its rows went to quarantine, so the
  periods it touches are not published until it is released. Fix the mapping and release
  the quarantine, or trigger this DAG with `{{"release_batch": "<batch id>", "note": "..."}}`
  (or run `observatory batches release <batch id>`). An alert has been sent.
* **announce** is skipped: the index has already read every batch of this source.
* **data_docs** rebuilds the city's Data Docs and quarantine summary (the "Data Docs" and
  "Quarantine" links of this page).

A run not finished {mon.ingest_deadline_minutes:g} min after it was queued alerts (deadline);
a task running longer than {mon.task_timeout_minutes:g} min is stopped.
Timestamps later than the end of the run's data interval are quarantined as "in the future".
"""

    @dag(
        dag_id=dag_id,
        schedule=_timetable(path, cfg, src.schedule, f"source {src.name!r}"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=_defaults(path, cfg),
        tags=["observatory", f"city:{cfg.city.id}", "ingest", f"kind:{src.kind}"],
        doc_md=doc,
        params={
            "release_batch": Param(
                None, type=["null", "string"], description="a held batch id to release first"
            ),
            "note": Param(None, type=["null", "string"], description="why it may be published"),
        },
        deadline=DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=dt.timedelta(minutes=mon.ingest_deadline_minutes),
            callback=SyncCallback(deadline_missed, kwargs={"config_path": str(path)}),
        ),
    )
    def _ingest_dag() -> None:
        @task(pool=pool_name(cfg))
        def ingest(config_path: str, source: str) -> dict[str, Any]:
            """Release a batch if asked; read -> validate -> load every new file of the
            source, one transaction each; list the batches the index has not read yet."""
            return _ingest(config_path, source, get_current_context())

        @task(outlets=[asset])
        def announce(summary: dict[str, Any]) -> None:
            """Update the source's Asset (which schedules the index) while the index has not
            read every batch of the source: a batch loaded now, released now, or loaded by a
            run that died before announcing it."""
            loaded = [b for b in summary["batches"] if b["status"] == "loaded" and not b["held"]]
            if not summary["unconsumed"]:
                raise AirflowSkipException("the index has read every batch of this source")
            get_current_context()["outlet_events"][asset].extra = {
                "batches_loaded": len(loaded),
                "batches_not_indexed": len(summary["unconsumed"]),
                "rows_accepted": sum(b["rows_accepted"] for b in loaded),
                "rows_quarantined": sum(b["rows_quarantined"] for b in loaded),
                "released": summary["released"],
                "as_of": summary["as_of"],
            }

        @task(retries=0)
        def check_batches(summary: dict[str, Any]) -> None:
            """Fail visibly if a file was rejected as a whole or a batch is held."""
            _check_batches(summary, dag_id)

        @task(pool=pool_name(cfg))
        def data_docs(config_path: str) -> str:
            """Rebuild the city's Data Docs and its quarantine summary page."""
            from observatory.ops.quality_page import write_page  # noqa: PLC0415
            from observatory.validation.data_docs import build_docs  # noqa: PLC0415
            from observatory.warehouse import connect  # noqa: PLC0415

            project = load_config(config_path)
            con = connect(project, read_only=True)
            try:
                site = build_docs(project, con)
                write_page(project, con)
            finally:
                con.close()
            return str(site)

        summary = ingest(str(path), src.name)
        announce(summary)
        check_batches(summary)
        summary >> data_docs(str(path))

    return _ingest_dag()


def _share(cfg: Config, src: SourceConfig) -> float:
    return (
        src.max_quarantine_share
        if src.max_quarantine_share is not None
        else (cfg.monitoring.hold_quarantine_share)
    )


def index_dag(path: Path, cfg: Config) -> DAG:
    """The index DAG: rebuild staging -> index -> marts when any source has new data, then
    export the marts."""
    assets = [source_asset(cfg, s) for s in cfg.sources]
    schedule: Any = assets[0]
    for asset in assets[1:]:
        schedule = schedule | asset
    marts, exports, final = marts_asset(cfg), exports_asset(cfg), final_asset(cfg)
    doc = f"""### Perceived-security index for {cfg.city.name}
Runs whenever any source DAG has loaded new data (Assets: {", ".join(a.name for a in assets)}).
**build** recomputes staging, the index components and the marts in one transaction
(idempotent: the same accepted rows always give the same tables) and checks that every batch
reconciles (rows read = accepted + quarantined); **export** writes `marts.zone_index` and
`marts.data_quality` as Parquet and CSV to `{cfg.resolve(cfg.project.exports)}`.
Dashboards read those files or the `marts` schema of `{cfg.warehouse_path}`.
A batch held for too much quarantine is left out until released: the months it touches
keep their published values and are flagged provisional (`idx.idx_periods.held_batches`;
`observatory batches held`).
"""

    @dag(
        dag_id=f"{cfg.city.id}.index",
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=_defaults(path, cfg),
        tags=["observatory", f"city:{cfg.city.id}", "index"],
        doc_md=doc,
    )
    def _index_dag() -> None:
        @task(pool=pool_name(cfg), outlets=[marts])
        def build(config_path: str) -> dict[str, Any]:
            """Rebuild staging, index and marts; fail if a batch does not reconcile."""
            preloaded = warm.preloaded()  # before this task's own imports
            from observatory import pipeline  # noqa: PLC0415 (heavy: DuckDB)
            from observatory.warehouse import connect  # noqa: PLC0415

            project = load_config(config_path)
            con = connect(project)
            try:
                built = pipeline.build(project, con=con)
                cells, published = con.execute(
                    "select count(*), count(index_value) from marts.zone_index"
                ).fetchall()[0]
                latest, provisional = con.execute(
                    "select strftime(max(period_start), '%Y-%m'), list(strftime(period_start, "
                    "'%Y-%m') order by period_start) filter (where is_provisional) "
                    "from idx.idx_periods"
                ).fetchall()[0]
                unreconciled = con.execute(
                    "select batch_id from marts.data_quality "
                    "where status = 'loaded' and not is_reconciled"
                ).fetchall()
            finally:
                con.close()
            if unreconciled:
                raise AirflowFailException(
                    f"batches do not reconcile (read != accepted + quarantined): {unreconciled}"
                )
            stats = {
                "models": len(built),
                "cells": cells,
                "published_cells": published,
                "latest_period": latest,
                "provisional_periods": provisional or [],
                "is_final": latest is not None and latest not in (provisional or []),
                "preloaded": preloaded,
            }
            get_current_context()["outlet_events"][marts].extra = stats
            return stats

        @task(pool=pool_name(cfg), outlets=[exports])
        def export(config_path: str) -> list[str]:
            """Write the marts as Parquet and CSV (atomically renamed)."""
            from observatory.publish import export as write_exports  # noqa: PLC0415

            return [str(f) for f in write_exports(load_config(config_path))]

        @task(outlets=[final])
        def finalise(stats: dict[str, Any]) -> str:
            """Announce the publication as final, unless its latest month is provisional.

            A provisional month (a source expected for it has not landed, or the month has
            not ended) is exported with `is_provisional = true` but never announced as final:
            this task is skipped, so the `final` Asset is not updated.
            """
            if not stats["is_final"]:
                raise AirflowSkipException(
                    f"latest month {stats['latest_period']} is provisional "
                    f"(provisional: {', '.join(stats['provisional_periods'])}): "
                    "exported, but not announced as final"
                )
            return str(stats["latest_period"])

        stats = build(str(path))
        stats >> export(str(path)) >> finalise(stats)

    return _index_dag()


def monitor_dag(path: Path, cfg: Config) -> DAG:
    """The monitoring DAG: one task per check, red (and an alert) when it finds something."""
    mon = cfg.monitoring
    marts = marts_asset(cfg)
    doc = f"""### Monitoring of {cfg.city.name}
Every `{mon.schedule}`, as of the end of the run's data interval:

* **freshness**: a source is stale when no new file was loaded for {mon.freshness_factor:g}
  periods of its schedule, or when its newest record (data time) is older than
  {mon.data_age_factor:g} periods (a source's `max_data_age_hours` overrides).
* **quarantine**: batches loaded in this interval whose quarantined share is above
  {mon.quarantine_max_share:.0%}, or above {mon.quarantine_spike_factor:g}x the source's usual
  share.
* **index_shifts** (when the marts were rebuilt in the interval; always on a run without one):
  zone x band cells whose index moved more than {mon.index_shift_points:g} points from the
  previous to the latest period.
* **waiting**: landing files the ingest runs have seen waiting (still being copied, or
  without their marker) for more than {mon.waiting_alert_hours:g} h (`ops.waiting_files`).

A red task is an alert: its log lists the findings (which file, how many rows, why, what to
do), and it was sent to {", ".join(mon.notifier)}. Thresholds and notifiers live in the
`[monitoring]` table of the project file. This DAG is unpaused from the start.
"""

    def _findings(check: str, run: Any) -> None:
        from observatory import monitoring  # noqa: PLC0415 (heavy: DuckDB)
        from observatory.warehouse import connect  # noqa: PLC0415

        project = load_config(str(path))
        if not project.warehouse_path.is_file():  # nothing loaded yet: only stale
            message = f"no warehouse at {project.warehouse_path}: nothing loaded yet"
            found = [{"check": check, "subject": "warehouse", "message": message}]
            found = found if check == "freshness" else []
        else:
            con = connect(project, read_only=True)
            try:
                found = [f.as_dict() for f in run(monitoring, con, project)]
            finally:
                con.close()
        if found:
            raise MonitoringAlert(check, found)
        log.info("%s: all clear", check)

    @dag(
        dag_id=f"{cfg.city.id}.monitor",
        schedule=_timetable(path, cfg, mon.schedule, "monitoring"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=False,  # alerts reach people without a first step
        default_args=_defaults(path, cfg),
        tags=["observatory", f"city:{cfg.city.id}", "monitoring"],
        doc_md=doc,
    )
    def _monitor_dag() -> None:
        @task(pool=pool_name(cfg))
        def freshness() -> None:
            """Is every source delivering as often as its schedule says?"""
            now = _run_time(get_current_context())
            _findings("freshness", lambda m, con, p: m.check_freshness(con, p, now))

        @task(pool=pool_name(cfg))
        def quarantine() -> None:
            """Did a batch of this interval quarantine far more rows than usual?"""
            since, until = _window(get_current_context(), cfg)
            _findings("quarantine", lambda m, con, p: m.check_quarantine(con, p, since, until))

        @task(pool=pool_name(cfg), inlets=[marts])
        def index_shifts() -> None:
            """Did a zone's index jump between the last two periods?"""
            context = get_current_context()
            if _has_interval(context):  # a run without one (manual, no date) always checks
                since, until = _window(context, cfg)
                accessor = context["inlet_events"][marts]
                events = accessor.after(since.isoformat()).before(until.isoformat())
                if not list(events):
                    raise AirflowSkipException("the marts were not rebuilt in this interval")
            _findings("index_shifts", lambda m, con, p: m.check_index_shifts(con, p))

        @task(pool=pool_name(cfg))
        def waiting() -> None:
            """Is a landing file stuck waiting (a copy that died, a marker never written)?"""
            now = _run_time(get_current_context())
            _findings("waiting", lambda m, con, p: m.check_waiting(con, p, now))

        freshness()
        quarantine()
        index_shifts()
        waiting()

    return _monitor_dag()


class ProjectErrors(DAG):
    """Stands in for the project files of a DAG family that could not be served.

    Airflow validates every DAG a file defines and records the ones that fail as that
    file's import error, while still loading the file's other DAGs: so a broken city shows
    up, named, in Airflow's import errors, and every other city keeps its DAGs.
    """

    def validate(self) -> None:
        """Fail with the problems (the import error Airflow shows)."""
        raise ConfigError(self.description or "observatory: a project file does not load")


def _problems_dag(which: str, problems: list[str]) -> DAG:
    return ProjectErrors(
        dag_id=f"observatory.{which}.config_errors",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        description=" | ".join(problems),
        tags=["observatory"],
        default_args=DEFAULT_ARGS,
        doc_md="Project files that do not load (see the DAG file's import error).",
    )


def _city_dags(which: str, path: Path, cfg: Config) -> list[DAG]:
    if which == "ingest":
        return [ingest_dag(path, cfg, src) for src in cfg.sources]
    if which == "index":
        return [index_dag(path, cfg)]
    if which == "monitor":
        return [monitor_dag(path, cfg)]
    raise ValueError(f"unknown DAG family {which!r}")


def build_dags(which: str) -> list[DAG]:
    """All DAGs of one family ("ingest", "index", "monitor" or "network") for every served
    project; a project that does not load is left out and named in the file's import error."""
    dags: list[DAG] = []
    problems: list[str] = []
    if which == "network":
        from observatory.network.dags import network_dags  # noqa: PLC0415

        dags, problems = network_dags(network_paths(), served_projects())
    else:
        for path, cfg in served_projects():
            if isinstance(cfg, str):
                problems.append(cfg)
                continue
            try:
                dags.extend(_city_dags(which, path, cfg))
            except ConfigError as exc:
                problems.append(str(exc))
    if problems:
        for problem in problems:
            log.error("observatory %s DAGs: %s", which, problem)
        dags.append(_problems_dag(which, problems))
    return dags
