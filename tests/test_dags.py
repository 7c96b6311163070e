"""The Airflow DAGs, on real Airflow: integrity of the dags/ folder, DAGs generated from the
config, and `dag.test()` runs against a temporary warehouse and a temporary AIRFLOW_HOME.

Airflow is configured once per process, when first imported, so this module imports it only
inside the `airflow_home` fixture, after pointing AIRFLOW_HOME at a temporary folder and
running `airflow db migrate` there. The city is the small SYNTHETIC demo, generated fresh.
"""

from __future__ import annotations

import html
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.airflow_support import CITY, DAGS, POOL, airflow_env, make_city, run_airflow, variant
from tests.receivers import SmtpSink, WebhookSink

INGEST = {
    "survey_quartieri": f"{CITY}.ingest.survey_quartieri",
    "incidents_polizia": f"{CITY}.ingest.incidents_polizia",
    "sensors_street": f"{CITY}.ingest.sensors_street",
}
INDEX, MONITOR = f"{CITY}.index", f"{CITY}.monitor"

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore:Using `httpx` with `starlette.testclient`"
)


@dataclass
class AirflowHome:
    """The temporary Airflow installation and the demo city it serves."""

    root: Path
    config: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowHome]:
    """A migrated metadata DB in a temporary AIRFLOW_HOME, the city's one-slot pool, and a
    freshly generated (not yet ingested) demo city as OBSERVATORY_CONFIG."""
    if "airflow" in sys.modules:
        pytest.fail("Airflow was imported before its test environment was set up")
    root = tmp_path_factory.mktemp("airflow")
    config = make_city(root / "city")
    env = airflow_env(root / "home", config)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        run_airflow(["db", "migrate"], env)
        from airflow.models.pool import Pool  # noqa: PLC0415 (only after the env is set)

        Pool.create_or_update_pool(POOL, 1, "DuckDB: one writer per warehouse", False)
        yield AirflowHome(root, config, env)


def _dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415

    return DagBag(dag_folder=str(DAGS))


def _run(dag_id: str, **kwargs: Any) -> tuple[str, dict[str, str]]:
    """`dag.test()` one DAG of the folder; the run's state and its tasks' states."""
    from airflow.models import TaskInstance  # noqa: PLC0415
    from airflow.utils.session import create_session  # noqa: PLC0415

    bag = _dagbag()
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[dag_id]
    # Airflow 3.3.2's dag.test() looks the DAG's DeadlineAlerts up as if they were the ids of
    # serialized ones (DagRun.update_state) and fails: the deadlines are checked on their
    # own below, and fire through the scheduler in tests/test_airflow_e2e.py.
    dag.deadline = None
    run = dag.test(**kwargs)
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run.run_id)
        return str(run.state), {ti.task_id: str(ti.state) for ti in tis}


def _query(config: Path, sql: str) -> list[tuple]:
    from observatory.config import load_config  # noqa: PLC0415

    con = duckdb.connect(str(load_config(config).warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# --- integrity of the folder --------------------------------------------------------------


def test_dag_folder_imports_without_errors(airflow_home: AirflowHome) -> None:
    bag = _dagbag()
    assert bag.import_errors == {}
    assert sorted(bag.dags) == sorted([*INGEST.values(), INDEX, MONITOR])


def test_every_dag_follows_the_house_rules(airflow_home: AirflowHome) -> None:
    from airflow.utils.dag_cycle_tester import check_cycle  # noqa: PLC0415

    for dag in _dagbag().dags.values():
        check_cycle(dag)  # raises on a cycle
        assert "observatory" in dag.tags and f"city:{CITY}" in dag.tags, dag.dag_id
        assert dag.default_args["retries"] >= 1, dag.dag_id
        assert dag.catchup is False and dag.start_date.tzinfo is not None, dag.dag_id
        assert dag.doc_md and len(dag.doc_md) > 200, dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id


def test_every_warehouse_task_takes_the_one_slot_pool(airflow_home: AirflowHome) -> None:
    from airflow.models.pool import Pool  # noqa: PLC0415

    bag = _dagbag()
    opening = {
        "ingest", "data_docs", "build", "export", "freshness", "quarantine", "index_shifts",
        "waiting",
    }  # fmt: skip
    tasks = [t for d in bag.dags.values() for t in d.tasks if t.task_id in opening]
    assert len(tasks) == 2 * len(INGEST) + 2 + 4
    assert {t.pool for t in tasks} == {POOL}
    assert Pool.get_pool(POOL).slots == 1


def test_dag_files_do_no_heavy_work_at_import(airflow_home: AirflowHome) -> None:
    script = (
        "import runpy, sys, time\n"
        "t = time.perf_counter()\n"
        f"for f in {sorted(str(p) for p in DAGS.glob('*.py'))!r}: runpy.run_path(f)\n"
        "print(time.perf_counter() - t)\n"
        "assert 'duckdb' not in sys.modules, 'duckdb imported at parse time'\n"
        "assert 'great_expectations' not in sys.modules, 'GX imported at parse time'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) < 10


# --- DAGs generated from the config -------------------------------------------------------

NEW_SOURCE = """
[[sources]]
name = "incidents_comune"
kind = "incidents"
family = "crime"
path = "landing/incidents_comune/*.csv"
schedule = "@weekly"

[sources.columns]
incident_id = "incident_id"
occurred_at = "occurred_at"
latitude = "lat"
longitude = "lon"
category = "category"
"""


def test_a_source_added_to_the_config_gets_its_dag(
    airflow_home: AirflowHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "OBSERVATORY_CONFIG", str(variant(airflow_home.config, "more.toml", NEW_SOURCE))
    )
    bag = _dagbag()
    assert bag.import_errors == {}
    new = bag.dags[f"{CITY}.ingest.incidents_comune"]
    assert new.timetable.expression == "0 0 * * 0"
    assert "kind:incidents" in new.tags
    consumed = {a.name for a in bag.dags[INDEX].timetable.asset_condition.objects}
    assert f"{CITY}.incidents_comune" in consumed and len(consumed) == 4


def test_a_bad_schedule_is_an_import_error_naming_the_source(
    airflow_home: AirflowHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = NEW_SOURCE.replace('"@weekly"', '"every tuesday"')
    monkeypatch.setenv("OBSERVATORY_CONFIG", str(variant(airflow_home.config, "bad.toml", bad)))
    errors = _dagbag().import_errors
    assert [Path(f).name for f in errors] == ["observatory_ingest.py"]
    message = next(iter(errors.values())).splitlines()[-1]
    assert "bad.toml: source 'incidents_comune': schedule 'every tuesday'" in message


# --- dag.test(): ingest, index, idempotency -----------------------------------------------


@pytest.fixture(scope="module")
def pipeline_runs(airflow_home: AirflowHome) -> dict[str, tuple[str, dict[str, str]]]:
    """Every ingest DAG, then the index DAG, run once with `dag.test()`."""
    runs = {dag_id: _run(dag_id) for dag_id in INGEST.values()}
    runs[INDEX] = _run(INDEX)
    return runs


def test_ingest_dags_load_every_source_and_update_its_asset(
    airflow_home: AirflowHome, pipeline_runs: dict
) -> None:
    from airflow.models.asset import AssetEvent, AssetModel  # noqa: PLC0415
    from airflow.utils.session import create_session  # noqa: PLC0415

    for dag_id in INGEST.values():
        assert pipeline_runs[dag_id] == (
            "success",
            {
                "ingest": "success",
                "announce": "success",
                "check_batches": "success",
                "data_docs": "success",
            },
        )
    loaded = dict(
        _query(
            airflow_home.config,
            "select source_name, count(*) from ops.batches where status = 'loaded' group by all",
        )
    )
    assert loaded == {name: 6 for name in INGEST}
    with create_session() as session:
        events = (
            session.query(AssetModel.name, AssetEvent.extra)
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .all()
        )
    announced = {name: extra for name, extra in events if name in {f"{CITY}.{s}" for s in INGEST}}
    assert len(announced) == len(INGEST)
    assert all(extra["batches_loaded"] == 6 for extra in announced.values())


def test_index_dag_builds_reconciled_marts_and_exports_them(
    airflow_home: AirflowHome, pipeline_runs: dict
) -> None:
    assert pipeline_runs[INDEX] == (
        "success",
        {"build": "success", "export": "success", "finalise": "success"},
    )
    ((cells, zones, periods),) = _query(
        airflow_home.config,
        "select count(*), count(distinct zone_id), count(distinct period_start) "
        "from marts.zone_index",
    )
    assert (zones, periods) == (20, 6) and cells == 20 * 6 * 2
    quality = _query(
        airflow_home.config,
        "select count(*), count(*) filter (where is_reconciled), sum(rows_read), "
        "sum(rows_accepted) + sum(rows_quarantined) from marts.data_quality",
    )
    assert quality[0][0] == 18 and quality[0][1] == 18 and quality[0][2] == quality[0][3]
    exports = airflow_home.config.parent / "exports"
    assert {p.name for p in exports.iterdir()} >= {"zone_index.parquet", "data_quality.csv"}


def test_rerunning_ingest_and_index_changes_nothing(
    airflow_home: AirflowHome, pipeline_runs: dict
) -> None:
    snapshot = (
        "select (select count(*) from ops.batches), (select count(*) from validated.incidents), "
        "(select sum(hash(zone_id, time_band, period_start, index_value)) from marts.zone_index)"
    )
    before = _query(airflow_home.config, snapshot)
    state, tasks = _run(INGEST["incidents_polizia"])
    assert (state, tasks["announce"]) == ("success", "skipped")  # nothing new: no Asset event
    assert _run(INDEX)[0] == "success"
    assert _query(airflow_home.config, snapshot) == before


def test_ingest_is_keyed_on_the_data_interval(
    airflow_home: AirflowHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt  # noqa: PLC0415

    config = make_city(tmp_path / "city")
    monkeypatch.setenv("OBSERVATORY_CONFIG", str(config))
    # A daily run on 1 April 2025 covers 31 March in Rome; its interval ends at
    # 2025-03-31 22:00 UTC, so incidents after that are "in the future" for this run.
    state, tasks = _run(
        INGEST["incidents_polizia"], logical_date=dt.datetime(2025, 4, 1, 12, tzinfo=dt.UTC)
    )
    # the April-June files are all "in the future": loaded, and held (check_batches red)
    assert (state, tasks["ingest"], tasks["check_batches"]) == ("failed", "success", "failed")
    held = _query(config, "select count(*) from ops.batch_holds where reason like '%future%'")
    assert held == [(3,)]
    end = "timestamptz '2025-03-31 22:00:00+00'"
    # the raw layer is the archived landing files (raw.files), read as they came
    archived = [
        p
        for (p,) in _query(
            config, "select stored_path from raw.files where source_name = 'incidents_polizia'"
        )
    ]
    files = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in archived) + "]"
    ((accepted_after, future, later_in_files),) = _query(
        config,
        f"""select
            (select count(*) from validated.incidents where occurred_at > {end}),
            (select count(*) from quarantine.incidents where reason like '%in the future%'),
            (select count(*) from read_csv({files}, all_varchar = true, union_by_name = true)
             where try_cast(occurred_at as timestamptz) > {end})""",
    )
    assert accepted_after == 0
    assert future > 0 and future <= later_in_files


# --- dag.test(): monitoring ---------------------------------------------------------------


def test_monitor_dag_is_green_on_the_healthy_demo(
    airflow_home: AirflowHome, pipeline_runs: dict
) -> None:
    state, tasks = _run(MONITOR, logical_date=None)
    assert state == "success", tasks
    assert set(tasks.values()) == {"success"}


def test_monitor_is_keyed_on_its_data_interval(
    airflow_home: AirflowHome, pipeline_runs: dict
) -> None:
    import datetime as dt  # noqa: PLC0415

    from airflow.models.asset import AssetEvent, AssetModel  # noqa: PLC0415
    from airflow.utils.session import create_session  # noqa: PLC0415

    # Two days ago no source was live yet (their first batches came later): not "stale",
    # not "never loaded" (the monitor's first run used to say so right after 36 batches);
    # and the marts were not rebuilt in that hour.
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    assert _run(MONITOR, logical_date=past)[1] == {
        "freshness": "success",
        "quarantine": "success",
        "index_shifts": "skipped",
        "waiting": "success",
    }
    # The hourly interval holding the last rebuild of the marts: everything is checked.
    with create_session() as session:
        rebuilt = (
            session.query(AssetEvent.timestamp)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == f"{CITY}.marts")
            .order_by(AssetEvent.timestamp.desc())
            .first()[0]
        )
    state, tasks = _run(MONITOR, logical_date=rebuilt + dt.timedelta(hours=1))
    assert (state, tasks["index_shifts"]) == ("success", "success"), tasks


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


ALERTING = """
[monitoring]
notifier = "webhook"
freshness_factor = 0.000001
quarantine_max_share = 0.01
index_shift_points = 5
index_shift_significant_only = false
"""


def test_monitor_fails_visibly_and_posts_each_alert_to_the_webhook(
    airflow_home: AirflowHome, pipeline_runs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        monkeypatch.setenv("AIRFLOW_CONN_OBSERVATORY_ALERTS", url)
        monkeypatch.setenv(
            "OBSERVATORY_CONFIG", str(variant(airflow_home.config, "alerting.toml", ALERTING))
        )
        _Hook.received.clear()
        state, tasks = _run(MONITOR, logical_date=None)
    finally:
        server.shutdown()
    assert state == "failed"
    assert tasks == {
        "freshness": "failed", "quarantine": "failed", "index_shifts": "failed",
        "waiting": "success",  # nothing is waiting in landing
    }  # fmt: skip
    by_task = {alert["task_id"]: alert for alert in _Hook.received}
    assert set(by_task) == {t for t, state in tasks.items() if state == "failed"}
    assert {f["subject"] for f in by_task["freshness"]["findings"]} == set(INGEST)
    assert all(f["check"] == "quarantine" for f in by_task["quarantine"]["findings"])
    assert all(abs(f["value"]) > 5 for f in by_task["index_shifts"]["findings"])


# --- alerts, holds, releases, UI links -----------------------------------------------------


def test_the_monitor_starts_unpaused_and_ingest_dags_have_deadlines_and_timeouts(
    airflow_home: AirflowHome,
) -> None:
    import datetime as dt  # noqa: PLC0415

    bag = _dagbag()
    assert bag.dags[MONITOR].is_paused_upon_creation is False
    for dag_id in INGEST.values():
        [deadline] = bag.dags[dag_id].deadline
        assert type(deadline.reference).__name__ == "DagRunQueuedAtDeadline"
        assert deadline.interval == dt.timedelta(minutes=60)
        assert deadline.callback.path == "observatory.orchestration.deadline_missed"
    for dag in bag.dags.values():
        for t in dag.tasks:
            assert t.execution_timeout == dt.timedelta(minutes=120), (dag.dag_id, t.task_id)


def test_a_missed_deadline_alerts_by_webhook(
    airflow_home: AirflowHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    from observatory.orchestration import deadline_missed  # noqa: PLC0415

    config = variant(airflow_home.config, "hook.toml", '[monitoring]\nnotifier = "webhook"\n')
    with WebhookSink() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_OBSERVATORY_ALERTS", hook.url)
        # the context Airflow's scheduler gives a deadline callback (models/deadline.py)
        run = {"dag_id": INGEST["survey_quartieri"], "dag_run_id": "scheduled__x"}
        deadline_missed(str(config), {"dag_run": run, "deadline": {"deadline_time": "t"}})
        [alert] = hook.received
    assert alert["headline"] == f"{INGEST['survey_quartieri']}: deadline missed"
    assert "has not finished 60 min after it was queued" in alert["text"]
    assert f"pool observatory_{CITY}" in alert["text"]


MISSING = NEW_SOURCE.replace("landing/incidents_comune/*.csv", "landing/nowhere/*.csv")


def test_a_missing_landing_folder_fails_loudly_naming_it(
    airflow_home: AirflowHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = MISSING + '\n[monitoring]\nnotifier = "webhook"\n'
    monkeypatch.setenv(
        "OBSERVATORY_CONFIG", str(variant(airflow_home.config, "missing.toml", extra))
    )
    with WebhookSink() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_OBSERVATORY_ALERTS", hook.url)
        state, tasks = _run(f"{CITY}.ingest.incidents_comune")
    assert (state, tasks["ingest"]) == ("failed", "failed")
    [alert] = hook.received
    folder = airflow_home.config.parent / "landing" / "nowhere"
    assert f"the landing folder {folder} does not exist" in alert["text"]


HELD_ALERTS = """
[monitoring]
notifier = ["email", "webhook"]
email_to = ["sicurezza@city.example"]
"""


def _land_june(config: Path, name: str, n: int, *, half_bad: bool) -> Path:
    """`n` accepted June incidents again (new ids) as `name`; with `half_bad`, every other
    one of an unknown category."""
    rows = _query(
        config,
        "select strftime(occurred_at, '%Y-%m-%dT%H:%M:%SZ'), latitude, longitude, category, "
        "source from validated.incidents where occurred_at >= '2025-06-01' "
        "and occurred_at < '2025-06-29' order by record_id limit 20",
    )[:n]
    lines = ["incident_id,occurred_at,lat,lon,category,channel"] + [
        f"{Path(name).stem.rsplit('_', 1)[-1]}-{i:03d},{at},{lat},{lon},"
        f"{'alien_sighting' if half_bad and i % 2 else cat},{channel}"
        for i, (at, lat, lon, cat, channel) in enumerate(rows)
    ]
    path = config.parent / "landing" / "incidents" / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _june(config: Path) -> tuple:
    return _query(
        config,
        "select (select sum(hash(zone_id, time_band, index_value, incident_count)) "
        "from marts.zone_index where period_start = '2025-06-01'), "
        "(select held_batches from idx.idx_periods where period_start = '2025-06-01')",
    )[0]


def test_a_half_quarantined_batch_is_held_alerted_and_released_by_a_trigger(
    airflow_home: AirflowHome, pipeline_runs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = variant(airflow_home.config, "held.toml", HELD_ALERTS)
    monkeypatch.setenv("OBSERVATORY_CONFIG", str(config))
    dag_id = INGEST["incidents_polizia"]
    published, _ = _june(config)
    path = _land_june(config, "segnalazioni_2025_06_late.csv", 20, half_bad=True)
    with SmtpSink() as smtp, WebhookSink() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_OBSERVATORY_SMTP", smtp.connection())
        monkeypatch.setenv("AIRFLOW_CONN_OBSERVATORY_ALERTS", hook.url)
        state, tasks = _run(dag_id)
        mails, posts = smtp.messages, hook.received
    assert state == "failed"
    assert tasks == {
        "ingest": "success",  # loaded: nothing lost, rows reconcile
        "announce": "skipped",  # held: nothing for the index yet
        "check_batches": "failed",  # red in the UI, and an alert
        "data_docs": "success",
    }
    [(batch_id,)] = _query(config, "select batch_id from ops.batch_holds where released_at is null")
    # the e-mail and the webhook say which file, how many rows, why, and what to do
    [mail], [post] = mails, posts
    assert mail["To"] == "sicurezza@city.example"
    assert mail["Subject"] == f"[observatory {CITY}] {dag_id}: check_batches failed (1 finding(s))"
    body = html.unescape(mail.get_body(("html",)).get_content())
    for text in (body, post["text"]):
        assert str(path) in text
        assert "10 of 20 rows (50.0%) went to quarantine" in text
        assert "above the source's limit of 20%" in text
        assert "category not in the source's severity list (10 rows)" in text
        assert f"observatory batches release {batch_id}" in text
        assert f'{{"release_batch": "{batch_id}"}}' in text
    assert post["content_type"] == "application/json" and post["findings"][0]["check"] == "hold"
    assert (airflow_home.config.parent / "data_docs" / "quarantine.html").read_text(
        encoding="utf-8"
    ).count(batch_id) >= 1

    # the index runs (another source may have new data) but June is not republished
    assert _run(INDEX)[0] == "success"
    assert _june(config) == (published, [batch_id])

    state, tasks = _run(dag_id, run_conf={"release_batch": batch_id, "note": "new category"})
    assert (state, tasks["announce"]) == ("success", "success")
    ((by, note),) = _query(config, "select released_by, note from ops.batch_holds")
    assert by.startswith("airflow") and note == "new category"
    assert _run(INDEX)[0] == "success"
    republished, held = _june(config)
    assert republished != published and held == []


def test_a_retry_whose_files_were_all_skipped_still_announces(
    airflow_home: AirflowHome, pipeline_runs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest task that committed its batch and died before announcing it: the retry
    finds every file already loaded, and announces the batch the index has not read."""
    from observatory import pipeline  # noqa: PLC0415
    from observatory.config import load_config  # noqa: PLC0415

    _land_june(airflow_home.config, "segnalazioni_2025_06_retry.csv", 3, half_bad=False)
    [report] = [
        r
        for r in pipeline.ingest(load_config(airflow_home.config), sources=["incidents_polizia"])
        if r.status == "loaded"
    ]  # the first try's commit
    state, tasks = _run(INGEST["incidents_polizia"])
    assert (state, tasks["announce"]) == ("success", "success")
    from airflow.models.asset import AssetEvent, AssetModel  # noqa: PLC0415
    from airflow.utils.session import create_session  # noqa: PLC0415

    with create_session() as session:
        extra = (
            session.query(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == f"{CITY}.incidents_polizia")
            .order_by(AssetEvent.timestamp.desc())
            .first()[0]
        )
    assert extra["batches_loaded"] == 0 and extra["batches_not_indexed"] == 1
    assert _run(INDEX)[0] == "success"
    assert _run(INGEST["incidents_polizia"])[1]["announce"] == "skipped"  # now it was read
    from observatory.warehouse import connect  # noqa: PLC0415

    con = connect(load_config(airflow_home.config), read_only=True)
    try:
        (published,) = con.execute(
            "select count(*) from ops.publication_batches where batch_id = ?", [report.batch_id]
        ).fetchall()[0]
    finally:
        con.close()
    assert published >= 1


def test_the_plugin_links_dags_and_tasks_to_data_docs_and_quarantine(
    airflow_home: AirflowHome, pipeline_runs: dict
) -> None:
    from airflow import plugins_manager  # noqa: PLC0415
    from fastapi.testclient import TestClient  # noqa: PLC0415

    plugins = {p.name: p for p in plugins_manager._get_plugins()[0]}
    plugin = plugins["observatory"]
    views = {(v["name"], v["destination"]): v["href"] for v in plugin.external_views}
    assert views[("Data Docs", "dag")] == "/observatory/dag/{DAG_ID}/data-docs/index.html"
    assert views[("Quarantine", "task")] == "/observatory/dag/{DAG_ID}/quarantine"
    [app] = plugin.fastapi_apps
    from airflow.api_fastapi.app import init_auth_manager  # noqa: PLC0415

    init_auth_manager()  # what the API server does before it mounts the plugin's app
    docs = f"/dag/{INGEST['survey_quartieri']}/data-docs/index.html"
    # nobody logged in: a script gets 401, a browser goes to Airflow's login page
    stranger = TestClient(app["app"], follow_redirects=False)
    assert stranger.get(docs).status_code == 401
    assert stranger.get(f"/{CITY}/quarantine").status_code == 401
    sent = stranger.get(docs, headers={"Accept": "text/html"})
    assert sent.status_code == 303 and "login" in sent.headers["location"]
    # a user Airflow lets see plugins (a token from Airflow's own auth manager)
    client = TestClient(app["app"], headers={"Authorization": f"Bearer {_token()}"})
    page = client.get(docs)
    assert page.status_code == 200 and "<html" in page.text.lower()
    quarantine = client.get(f"/{CITY}/quarantine")
    assert quarantine.status_code == 200 and "Open quarantine" in quarantine.text
    assert client.get(f"/{CITY}/data-docs/../../observatory.toml").status_code == 404


def _token() -> str:
    """A JWT for an admin user, signed by the configured auth manager (what POST
    /auth/token hands out; tests/test_airflow_e2e.py takes it that way from a real server)."""
    from airflow.api_fastapi.app import get_auth_manager  # noqa: PLC0415
    from airflow.api_fastapi.auth.managers.simple.user import (  # noqa: PLC0415
        SimpleAuthManagerUser,
    )

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))


# --- last: a provisional month (changes the warehouse, so it runs after everything else) ----


def test_a_provisional_month_is_exported_but_not_announced_as_final(
    airflow_home: AirflowHome, pipeline_runs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second incident source has delivered May but not June: June is provisional. The
    index DAG still builds and exports (with `is_provisional`), but its `finalise` task is
    skipped, so the city's `final` Asset is not updated."""
    from airflow.models.asset import AssetEvent, AssetModel  # noqa: PLC0415
    from airflow.utils.session import create_session  # noqa: PLC0415

    landing = airflow_home.config.parent / "landing" / "incidents_comune"
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "comune_2025_05.csv").write_text(
        "incident_id,occurred_at,lat,lon,category\nC1,2025-05-21T10:39:11Z,45.0837,7.627321,theft\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(
        "OBSERVATORY_CONFIG", str(variant(airflow_home.config, "more.toml", NEW_SOURCE))
    )
    assert _run(f"{CITY}.ingest.incidents_comune")[0] == "success"
    with create_session() as session:
        finals_before = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == f"{CITY}.final")
            .count()
        )
    state, tasks = _run(INDEX)
    assert (state, tasks) == (
        "success",
        {"build": "success", "export": "success", "finalise": "skipped"},
    )
    with create_session() as session:
        finals_after = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == f"{CITY}.final")
            .count()
        )
    assert finals_before >= 1 and finals_after == finals_before
    exports = airflow_home.config.parent / "exports"
    flags = duckdb.sql(
        f"select distinct period_start::varchar, is_provisional "
        f"from '{exports / 'zone_index.parquet'}' order by 1"
    ).fetchall()
    assert flags[-1] == ("2025-06-01", True) and not any(f for _, f in flags[:-1])
