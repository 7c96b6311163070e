"""The demo network on a real Celery cluster: Redis broker, PostgreSQL metadata DB, two
workers (observatory.ops.cluster, the same cluster as `make airflow-cluster`).

The five SYNTHETIC member cities are generated (landing files only), their ingest, index
and network DAGs unpaused, and the scheduler does the rest: each ingest DAG runs its latest
interval, updates its source Asset, the cities' index DAGs run on those, and the network
DAG runs on the cities' marts Assets. The REST API's task instances then show that tasks
of different cities ran at the same time on both workers (`hostname`), that no two tasks
holding a city's one-slot pool overlapped (no warehouse was written by two at once), and
that the network ran after every city's marts event. Everything started is stopped, also
when the test fails.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatory.demo.network import CITIES, generate_network
from observatory.ops.cluster import WORKERS, Cluster

pytestmark = pytest.mark.slow
NETWORK_DAG = "demo_network.network"
DEADLINE_S = 900


class _Api:
    """Just enough of the REST API v2, with the token from POST /auth/token."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url
        self.token = ""
        self.token = self._call("POST", "/auth/token", {"username": user, "password": password})[
            "access_token"
        ]

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def get(self, path: str) -> Any:
        return self._call("GET", "/api/v2" + path)

    def patch(self, path: str, body: dict) -> Any:
        return self._call("PATCH", "/api/v2" + path, body)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path]]:
    root = tmp_path_factory.mktemp("celery")
    network = generate_network(root / "network")
    env = {"OBSERVATORY_NETWORK": str(network), "OBSERVATORY_CONFIG": ""}
    with Cluster(root / "cluster", env_extra=env) as running:
        yield running, network


def _wait(what: str, check: Any, cluster: Cluster, every: float = 3.0) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(every)
    logs = cluster.root / "logs"
    tails = {p.name: p.read_text(errors="replace")[-2500:] for p in logs.glob("*.log")}
    pytest.fail(f"timed out waiting for {what}; logs:\n{json.dumps(tails, indent=1)}")


def _when(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _runs(api: _Api, dag_id: str) -> list[dict]:
    return api.get(f"/dags/{dag_id}/dagRuns?limit=50")["dag_runs"]


@pytest.fixture(scope="module")
def finished(cluster: tuple[Cluster, Path]) -> dict[str, Any]:
    """Unpause the cities' ingest and index DAGs and the network DAG; wait for the network."""
    running, _ = cluster
    api = _Api(running.url, running.user, running.password)
    started = time.monotonic()
    expected = {f"{c.id}.index" for c in CITIES} | {NETWORK_DAG}
    expected |= {f"{c.id}.ingest.survey_{c.id}" for c in CITIES}
    expected |= {f"{c.id}.ingest.incidents_{c.id}" for c in CITIES if c.has_incidents}
    dags = _wait(
        "the DAGs to be parsed",
        lambda: expected <= {d["dag_id"] for d in api.get("/dags?limit=100")["dags"]},
        running,
    )
    assert dags
    for dag_id in sorted(expected):
        assert api.patch(f"/dags/{dag_id}", {"is_paused": False})["is_paused"] is False

    def _network_done() -> dict | None:
        runs = [r for r in _runs(api, NETWORK_DAG) if r["state"] in ("success", "failed")]
        return runs[0] if runs else None

    network_run = _wait("the network DAG run", _network_done, running)
    ingest = [d for d in expected if ".ingest." in d]
    _wait(
        "every ingest run",
        lambda: all(
            _runs(api, d) and _runs(api, d)[0]["state"] in ("success", "failed") for d in ingest
        ),
        running,
    )
    seconds = time.monotonic() - started
    tis = api.get("/dags/~/dagRuns/~/taskInstances?limit=1000")["task_instances"]
    return {"api": api, "network_run": network_run, "tis": tis, "seconds": seconds,
            "expected": expected}  # fmt: skip


def _city(ti: dict) -> str:
    return ti["dag_id"].split(".", 1)[0]


def test_every_dag_run_of_the_network_succeeded(finished: dict[str, Any]) -> None:
    api = finished["api"]
    assert finished["network_run"]["state"] == "success"
    for dag_id in finished["expected"]:
        states = {r["state"] for r in _runs(api, dag_id)}
        assert states and states <= {"success", "running", "queued"}, (dag_id, states)
    print(f"\ncluster: 5 cities ingested, indexed and compared in {finished['seconds']:.0f} s")


def test_tasks_of_different_cities_ran_in_parallel_on_both_workers(
    finished: dict[str, Any],
) -> None:
    city_tis = [
        t for t in finished["tis"]
        if t["state"] == "success" and t["start_date"] and not t["dag_id"].endswith(".network")
    ]  # fmt: skip
    hosts = {t["hostname"] for t in city_tis}
    assert set(WORKERS) <= hosts, hosts
    for worker in WORKERS:
        cities = {_city(t) for t in city_tis if t["hostname"] == worker}
        assert len(cities) >= 2, (worker, cities)
    overlapping = [
        (a, b)
        for a, b in combinations(city_tis, 2)
        if a["hostname"] != b["hostname"]
        and _city(a) != _city(b)
        and _when(a["start_date"]) < _when(b["end_date"])
        and _when(b["start_date"]) < _when(a["end_date"])
    ]
    assert overlapping, "no two tasks of different cities ran at once on the two workers"
    a, b = overlapping[0]
    print(f"\nparallel: {a['dag_id']}.{a['task_id']} on {a['hostname']} and "
          f"{b['dag_id']}.{b['task_id']} on {b['hostname']}; {len(overlapping)} such pairs")  # fmt: skip


def test_no_warehouse_was_written_by_two_tasks_at_once(finished: dict[str, Any]) -> None:
    by_pool: dict[str, list[tuple[dt.datetime, dt.datetime, str]]] = {}
    for t in finished["tis"]:
        if t["pool"].startswith("observatory_") and t["start_date"] and t["end_date"]:
            span = (_when(t["start_date"]), _when(t["end_date"]), f"{t['dag_id']}.{t['task_id']}")
            by_pool.setdefault(t["pool"], []).append(span)
    assert {f"observatory_{c.id}" for c in CITIES} <= set(by_pool)
    for pool, spans in by_pool.items():
        spans.sort()
        for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
            assert end <= start, f"{pool}: {first} and {second} overlapped"


def test_the_network_ran_after_every_city_marts_event(
    finished: dict[str, Any], cluster: tuple[Cluster, Path]
) -> None:
    api, run = finished["api"], finished["network_run"]
    events = api.get(f"/dags/{NETWORK_DAG}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")
    consumed = {e["uri"] for e in events["asset_events"]}
    assert consumed == {f"x-observatory://{c.id}/marts" for c in CITIES}
    latest_event = max(_when(e["timestamp"]) for e in events["asset_events"])
    assert _when(run["start_date"]) >= latest_event
    builds = [
        t
        for t in finished["tis"]
        if t["dag_id"].endswith(".index") and t["task_id"] == "build" and t["end_date"]
    ]
    network_build = next(
        t for t in finished["tis"] if t["dag_id"] == NETWORK_DAG and t["task_id"] == "build"
    )
    first_builds = {}
    for t in sorted(builds, key=lambda t: t["end_date"]):
        first_builds.setdefault(_city(t), t)
    assert len(first_builds) == len(CITIES)
    for t in first_builds.values():
        assert _when(t["end_date"]) <= _when(network_build["start_date"])
    _, network = cluster
    con = duckdb.connect(str(network.parent / "warehouse" / "network.duckdb"), read_only=True)
    try:
        published = con.execute(
            "select count(distinct city_id) from marts.network_cities where is_published"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert published == len(CITIES)


def test_the_workers_preloaded_the_heavy_imports_for_every_task(finished: dict[str, Any]) -> None:
    """Every ingest and index build task started in a fork of a worker that had imported
    GX, scikit-learn and the index already (observatory.ops.celery_config), so none of them
    paid those imports itself."""
    api = finished["api"]
    tasks = [
        t
        for t in finished["tis"]
        if t["state"] == "success" and t["task_id"] in ("ingest", "build")
        and not t["dag_id"].endswith(".network")
    ]  # fmt: skip
    assert {t["task_id"] for t in tasks} == {"ingest", "build"}
    for t in tasks:
        entry = api.get(
            f"/dags/{t['dag_id']}/dagRuns/{t['dag_run_id']}/taskInstances/{t['task_id']}"
            "/xcomEntries/return_value"
        )
        value = json.loads(entry["value"]) if isinstance(entry["value"], str) else entry["value"]
        assert value["preloaded"] is True, (t["dag_id"], t["task_id"], t["hostname"])
    print(f"\nwarm workers: {len(tasks)} ingest and build tasks started with the imports done")
