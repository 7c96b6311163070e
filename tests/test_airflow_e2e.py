"""End to end on a running Airflow: API server, scheduler and DAG processor on loopback, a
temporary AIRFLOW_HOME and a freshly generated small demo city, driven through the REST API
v2 the way an analyst's script would: log in, create the pool, unpause, trigger, poll.

The ingest DAGs are triggered; the index DAG is never triggered by hand: it must be started
by the scheduler from the Assets the ingest DAGs update (data-aware scheduling). Every
process started here is stopped in a `finally`, by process group.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.airflow_support import (
    BIN,
    CITY,
    POOL,
    airflow_env,
    free_port,
    make_city,
    run_airflow,
)
from tests.receivers import SmtpSink, WebhookSink

INGEST = [f"{CITY}.ingest.{s}" for s in ("survey_quartieri", "incidents_polizia", "sensors_street")]
INDEX, MONITOR = f"{CITY}.index", f"{CITY}.monitor"
USER = "analyst"
DEADLINE_S = 300
NEVER_YET = "0 0 29 2 *"


@dataclass
class Airflow:
    """A running Airflow, the city it serves, and where its alerts arrive."""

    url: str
    password: str
    config: Path
    logs: Path
    smtp: SmtpSink
    hook: WebhookSink


#: Alerts by e-mail and webhook; the monitor (unpaused from the start) never runs by itself;
#: a deadline every ingest run misses (1.2 s after it is queued), to see deadline alerts.
MONITORING = f"""
[monitoring]
schedule = "{NEVER_YET}"
notifier = ["email", "webhook"]
email_to = ["sicurezza@city.example"]
ingest_deadline_minutes = 0.02
"""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Leaves a redirect to the caller (it raises as an HTTPError with its Location)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Api:
    """Just enough of the REST API v2, with the token from POST /auth/token."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url
        token = self._call("POST", "/auth/token", {"username": user, "password": password})
        self.token = token["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {self.token}"} if hasattr(self, "token") else {}),
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def get(self, path: str) -> Any:
        return self._call("GET", "/api/v2" + path)

    def post(self, path: str, body: dict) -> Any:
        return self._call("POST", "/api/v2" + path, body)

    def patch(self, path: str, body: dict) -> Any:
        return self._call("PATCH", "/api/v2" + path, body)


def _wait(what: str, check: Any, airflow: Airflow, every: float = 2.0) -> Any:
    """Poll `check()` until it returns something truthy, or fail with the services' logs."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(every)
    tails = {p.name: p.read_text(errors="replace")[-3000:] for p in airflow.logs.glob("*.log")}
    pytest.fail(f"timed out waiting for {what}; logs:\n{json.dumps(tails, indent=1)}")


@pytest.fixture
def airflow(tmp_path: Path) -> Iterator[Airflow]:
    """API server + scheduler + DAG processor (LocalExecutor, SQLite) in a temp home."""
    config = make_city(tmp_path / "city")
    # Only the triggered runs should execute: with catchup off, unpausing a DAG would also
    # start a run for its latest complete interval; a 29 February schedule has none yet.
    text = re.sub(
        r'(?m)^schedule = ".*"$', f'schedule = "{NEVER_YET}"', config.read_text(encoding="utf-8")
    )
    config.write_text(text + MONITORING, encoding="utf-8")
    home, logs = tmp_path / "home", tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    password = secrets.token_urlsafe(12)
    smtp, hook = SmtpSink().__enter__(), WebhookSink().__enter__()
    env = airflow_env(
        home,
        config,
        AIRFLOW_CONN_OBSERVATORY_SMTP=smtp.connection(),
        AIRFLOW_CONN_OBSERVATORY_ALERTS=hook.url,
        AIRFLOW__CORE__EXECUTOR="observatory.ops.executors.WarmLocalExecutor",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USER}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{url}/execution/",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=url,
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__PARALLELISM="2",
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="600",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
    )
    (home / "passwords.json").write_text(json.dumps({USER: password}), encoding="utf-8")
    run_airflow(["db", "migrate"], env)
    started: list[subprocess.Popen] = []
    try:
        for component in ("api-server", "scheduler", "dag-processor"):
            with (logs / f"{component}.log").open("wb") as out:
                started.append(
                    subprocess.Popen(
                        [str(BIN / "airflow"), component],
                        env={**os.environ, **env},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own process group, with its children
                    )
                )
        yield Airflow(url, password, config, logs, smtp, hook)
    finally:
        for proc in started:
            _stop(proc)
        smtp.__exit__()
        hook.__exit__()


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group and wait; then SIGKILL whatever is left of the group."""
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue


def test_triggered_ingest_runs_start_the_index_through_assets(airflow: Airflow) -> None:
    _wait("the API server", lambda: _health(airflow.url), airflow)
    api = _Api(airflow.url, USER, airflow.password)
    _wait("the DAGs to be parsed", lambda: _parsed(api) == {*INGEST, INDEX, MONITOR}, airflow)

    api.post("/pools", {"name": POOL, "slots": 1, "description": "DuckDB: one writer"})
    for dag_id in [INDEX, *INGEST]:
        assert api.patch(f"/dags/{dag_id}", {"is_paused": False})["is_paused"] is False
    runs = {d: api.post(f"/dags/{d}/dagRuns", {"logical_date": None})["dag_run_id"] for d in INGEST}

    for dag_id, run_id in runs.items():
        state = _wait(f"{dag_id} to finish", lambda d=dag_id, r=run_id: _done(api, d, r), airflow)
        assert state == "success", dag_id
        # the scheduler's WarmLocalExecutor imported GX & co. before forking its workers
        assert _returned(api, dag_id, run_id, "ingest")["preloaded"] is True, dag_id

    # The index DAG was never triggered: the scheduler ran it for the sources' Asset events.
    consumed = _wait("index runs covering every source", lambda: _index_covers(api), airflow)
    assert consumed == {f"{CITY}.{d.rsplit('.', 1)[1]}" for d in INGEST}

    exports = airflow.config.parent / "exports"
    cells, zones = duckdb.sql(
        f"select count(*), count(distinct zone_id) from '{exports / 'zone_index.parquet'}'"
    ).fetchall()[0]
    assert zones == 20 and cells == 20 * 6 * 2
    (unreconciled,) = duckdb.sql(
        f"select count(*) from '{exports / 'data_quality.parquet'}' where not is_reconciled"
    ).fetchall()[0]
    assert unreconciled == 0
    _held_until_released(api, airflow)


def _june(exports: Path) -> tuple:
    """June's published cells in the exports (the dashboards' view) and their build."""
    return duckdb.sql(
        "select sum(hash(zone_id, time_band, index_value, incident_count)), any_value(build_id) "
        f"from '{exports / 'zone_index.parquet'}' where period_start = '2025-06-01'"
    ).fetchall()[0]


def _land_half_bad_june(config: Path) -> Path:
    """20 June incidents: 10 accepted ones again (new ids), 10 of an unknown category."""
    warehouse = config.parent / "warehouse" / "observatory.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:  # no task is running
        rows = con.execute(
            "select strftime(occurred_at, '%Y-%m-%dT%H:%M:%SZ'), latitude, longitude, "
            "category, source from validated.incidents where occurred_at >= '2025-06-01' "
            "and occurred_at < '2025-06-29' order by record_id limit 20"
        ).fetchall()
    lines = ["incident_id,occurred_at,lat,lon,category,channel"] + [
        f"LATE-{i:03d},{at},{lat},{lon},{'alien_sighting' if i % 2 else cat},{channel}"
        for i, (at, lat, lon, cat, channel) in enumerate(rows)
    ]
    path = config.parent / "landing" / "incidents" / "segnalazioni_2025_06_late.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _returned(api: _Api, dag_id: str, run_id: str, task_id: str) -> Any:
    """A task's return value (its XCom)."""
    entry = api.get(
        f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    )
    value = entry["value"]
    return json.loads(value) if isinstance(value, str) else value


def _tasks(api: _Api, dag_id: str, run_id: str) -> dict[str, str]:
    got = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return {t["task_id"]: t["state"] for t in got}


def _held_until_released(api: _Api, airflow: Airflow) -> None:
    """A ~50%-quarantined June file is loaded but held: the ingest run is red, an e-mail and
    a webhook arrive on loopback naming the file, the rows, why and what to do, and the
    index is not republished; a trigger with {"release_batch": ID} publishes June."""
    dag_id = f"{CITY}.ingest.incidents_polizia"
    exports = airflow.config.parent / "exports"
    before = _june(exports)
    index_runs = len(api.get(f"/dags/{INDEX}/dagRuns?limit=100")["dag_runs"])
    late = _land_half_bad_june(airflow.config)
    run_id = api.post(f"/dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]
    assert _wait("the held run", lambda: _done(api, dag_id, run_id), airflow) == "failed"
    tasks = _tasks(api, dag_id, run_id)
    assert (tasks["ingest"], tasks["check_batches"], tasks["announce"]) == (
        "success", "failed", "skipped",
    )  # fmt: skip

    def _held_alerts() -> tuple | None:
        mails = [m for m in airflow.smtp.messages if "check_batches failed" in m["Subject"]]
        posts = [p for p in airflow.hook.received if p.get("task_id") == "check_batches"]
        return (mails, posts) if mails and posts else None

    [mail], [post] = _wait("the e-mail and the webhook", _held_alerts, airflow)
    batch_id = post["findings"][0]["subject"]
    for text in (html.unescape(mail.get_body(("html",)).get_content()), post["text"]):
        assert str(late) in text and "10 of 20 rows (50.0%) went to quarantine" in text
        assert "category not in the source's severity list (10 rows)" in text
        assert f"observatory batches release {batch_id}" in text
    assert mail["To"] == "sicurezza@city.example"
    # the links of the alert and of every DAG page, served by the plugin on the API server
    plugins = {p["name"]: p for p in api.get("/plugins")["plugins"]}
    views = {(v["name"], v["destination"]) for v in plugins["observatory"]["external_views"]}
    assert {("Data Docs", "dag"), ("Quarantine", "task")} <= views
    # the pages need a user Airflow lets see plugins: an API token here (a UI session's
    # cookie in a browser); without one, a 401, and a browser goes to the login page
    docs_url = f"{airflow.url}/observatory/dag/{dag_id}/data-docs/index.html"
    bearer = {"Authorization": f"Bearer {api.token}"}
    with urllib.request.urlopen(
        urllib.request.Request(post["links"]["Quarantine"], headers=bearer), timeout=30
    ) as page:
        assert batch_id in page.read().decode("utf-8")
    with urllib.request.urlopen(
        urllib.request.Request(docs_url, headers=bearer), timeout=30
    ) as page:
        assert page.status == 200
    for url in (post["links"]["Quarantine"], docs_url):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=30)
        assert refused.value.code == 401, url
    browser = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as sent:
        browser.open(urllib.request.Request(docs_url, headers={"Accept": "text/html"}), timeout=30)
    assert sent.value.code == 303
    assert "/auth/" in sent.value.headers["Location"] and "login" in sent.value.headers["Location"]

    # held: no index run was started for it, and June's exports are as they were
    time.sleep(10)  # the scheduler's few seconds to react to an Asset event, were there one
    assert len(api.get(f"/dags/{INDEX}/dagRuns?limit=100")["dag_runs"]) == index_runs
    assert _june(exports) == before

    conf = {"release_batch": batch_id, "note": "alien_sighting is a new category: fine"}
    run_id = api.post(f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]
    assert _wait("the release run", lambda: _done(api, dag_id, run_id), airflow) == "success"
    assert _tasks(api, dag_id, run_id)["announce"] == "success"

    def _republished() -> tuple | None:
        runs = api.get(f"/dags/{INDEX}/dagRuns?limit=100")["dag_runs"]
        if len(runs) <= index_runs or any(r["state"] not in ("success", "failed") for r in runs):
            return None
        return _june(exports)

    after = _wait("the index after the release", _republished, airflow)
    assert after[0] != before[0] and after[1] != before[1]

    # every ingest run missed its 1.2 s deadline: Airflow's DeadlineAlert called ours
    deadlines = _wait(
        "deadline alerts",
        lambda: [p for p in airflow.hook.received if p["headline"].endswith("deadline missed")],
        airflow,
    )
    assert "min after it was queued" in deadlines[0]["text"]


def _health(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as response:
        return response.status == 200


def _parsed(api: _Api) -> set[str]:
    return {d["dag_id"] for d in api.get("/dags?tags=observatory&limit=50")["dags"]}


def _done(api: _Api, dag_id: str, run_id: str) -> str | None:
    state = api.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
    return state if state in ("success", "failed") else None


def _index_covers(api: _Api) -> set[str] | None:
    """The source Assets consumed by successful index runs, once they cover every source and
    no index run is still going."""
    index_runs = api.get(f"/dags/{INDEX}/dagRuns?limit=50")["dag_runs"]
    if any(r["state"] not in ("success", "failed") for r in index_runs):
        return None
    assert all(r["state"] == "success" for r in index_runs), index_runs
    assert all(r["run_type"] == "asset_triggered" for r in index_runs), index_runs
    consumed = {
        event["name"]
        for r in index_runs
        for event in api.get(f"/dags/{INDEX}/dagRuns/{r['dag_run_id']}/upstreamAssetEvents")[
            "asset_events"
        ]
    }
    return consumed if len(consumed) == len(INGEST) else None
