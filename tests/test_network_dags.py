"""The network's Airflow DAGs, parsed by Airflow's own DagBag: the network DAG is scheduled
on its members' marts Assets, and a broken member's project file disables only that city.

Airflow reads its configuration once, when first imported: if no earlier test module has
imported it, this module points AIRFLOW_HOME at a temporary folder first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from observatory.demo.network import CITIES, generate_network

REPO = Path(__file__).resolve().parents[1]
NETWORK_DAG = "demo_network.network"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("network-dags")
    with pytest.MonkeyPatch.context() as mp:
        if "airflow" not in sys.modules:
            mp.setenv("AIRFLOW_HOME", str(root / "airflow"))
            mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        yield generate_network(root / "net")


def _bag(monkeypatch: pytest.MonkeyPatch, network: Path) -> Any:
    monkeypatch.setenv("OBSERVATORY_NETWORK", str(network))
    monkeypatch.setenv("OBSERVATORY_CONFIG", "")
    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415

    return DagBag(dag_folder=str(REPO / "dags"))


def test_the_network_dag_waits_for_every_member_marts_asset(
    network: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bag = _bag(monkeypatch, network)
    assert bag.import_errors == {}
    dag = bag.dags[NETWORK_DAG]
    condition = dag.timetable.asset_condition
    assert type(condition).__name__ == "AssetAll"
    assert {a.name for a in condition.objects} == {f"{c.id}.marts" for c in CITIES}
    pools = {t.task_id: t.pool for t in dag.tasks}
    assert pools == {
        **{f"snapshot_{c.id}": f"observatory_{c.id}" for c in CITIES},
        "build": "observatory_demo_network",
        "report": "observatory_demo_network",
    }
    assert dag.default_args["retries"] >= 1 and "network" in dag.tags
    for city in CITIES:  # every member's own DAGs come from the network file
        assert f"{city.id}.index" in bag.dags


def test_a_broken_member_disables_only_its_own_city(
    network: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    riga = network.parent / "riga" / "observatory.toml"
    good = riga.read_text(encoding="utf-8")
    riga.write_text(good.replace('timezone = "Europe/Riga"', 'timezone = "Europe/Rigaa"', 1))
    try:
        bag = _bag(monkeypatch, network)
    finally:
        riga.write_text(good, encoding="utf-8")
    assert not [d for d in bag.dags if d.startswith("riga.")]
    others = [c.id for c in CITIES if c.id != "riga"]
    for city in others:
        assert {f"{city}.index", f"{city}.monitor"} <= set(bag.dags)
    errors = {Path(f).name: message for f, message in bag.import_errors.items()}
    assert set(errors) == {
        "observatory_ingest.py",
        "observatory_index.py",
        "observatory_monitor.py",
    }
    for message in errors.values():
        assert str(riga) in message and "Europe/Rigaa" in message
    condition = bag.dags[NETWORK_DAG].timetable.asset_condition
    assert {a.name for a in condition.objects} == {f"{c}.marts" for c in others}
    assert os.environ["OBSERVATORY_CONFIG"] == ""
