"""The source kinds' contracts (sql/sources/<kind>.toml) and what is generated from them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from observatory import source_contracts as sc
from observatory.config import CANONICAL_FIELDS, REQUIRED_FIELDS
from observatory.pipeline import _VALIDATED_COLUMNS
from observatory.sources import mapping


def _suite(kind: str) -> dict:
    return json.loads(sc.suite_path(kind).read_text(encoding="utf-8"))


def test_nothing_has_drifted_from_the_contracts() -> None:
    # the CI check: docs, suites and validated tables agree with sql/sources and sql/marts
    assert sc.drift() == [], "run `observatory contracts --write`"


def test_config_mapping_and_ddl_read_the_contracts() -> None:
    for kind, contract in sc.load_source_contracts().items():
        assert CANONICAL_FIELDS[kind] == contract.by_role("mapped")
        assert set(REQUIRED_FIELDS[kind]) <= set(CANONICAL_FIELDS[kind])
        assert mapping.CONFORMED_COLUMNS[kind] == contract.by_role("mapped", "derived")
        ddl = [spec.split(" ")[0] for spec in _VALIDATED_COLUMNS[kind].split(", ")]
        assert ddl == [c.name for c in contract.columns]
    assert "survey_non_response" in _VALIDATED_COLUMNS


def test_a_suite_missing_a_contract_not_null_check_is_drift_and_write_restores_it() -> None:
    suite = _suite("sensors")
    broken = copy.deepcopy(suite)
    broken["expectations"] = [
        e
        for e in broken["expectations"]
        if not (
            e["type"] == "expect_column_values_to_not_be_null"
            and e["kwargs"] == {"column": "sensor_id"}
        )
    ]
    assert sc.suite_drift("sensors", broken) == [
        "no not-null check on sensor_id (contract: not_null)"
    ]
    fixed = sc.regenerate_suite("sensors", broken)
    assert sc.suite_drift("sensors", fixed) == []
    # nothing else in the suite is touched
    assert len(fixed["expectations"]) == len(suite["expectations"])


def test_a_changed_reason_or_an_extra_not_null_check_is_drift() -> None:
    suite = _suite("incidents")
    for e in suite["expectations"]:
        if e["kwargs"] == {"column": "category"} and e["type"].endswith("not_be_null"):
            e["meta"]["reason"] = "no category"
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "latitude"},
            "meta": {"severity": "error", "reason": "x"},
        }
    )
    problems = sc.suite_drift("incidents", suite)
    assert any("category has reason 'no category'" in p for p in problems)
    assert any("latitude, which the contract does not mark not_null" in p for p in problems)
    regenerated = sc.regenerate_suite("incidents", suite)
    assert sc.suite_drift("incidents", regenerated) == []


def test_a_check_on_a_column_outside_the_contract_is_drift() -> None:
    suite = _suite("survey")
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "scoer", "min_value": 0},
            "meta": {"severity": "error", "reason": "typo"},
        }
    )
    assert "a check names column 'scoer', which is not in the contract" in sc.suite_drift(
        "survey", suite
    )


def test_a_contract_that_contradicts_itself_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "sources"
    folder.mkdir()
    for kind in sc.KINDS:
        text = (sc.repo_dir("sql") / "sources" / f"{kind}.toml").read_text(encoding="utf-8")
        (folder / f"{kind}.toml").write_text(text, encoding="utf-8")
    path = folder / "sensors.toml"
    path.write_text(
        path.read_text(encoding="utf-8")
        + '\n[[columns]]\nname = "value"\ntype = "double"\nrole = "derived"\nrequired = true\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"value: listed twice.*value: required but not mapped"):
        sc.load_source_contracts(tmp_path)


def test_the_conform_step_refuses_to_run_when_code_and_contract_disagree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a contract that gained a column the conform step does not make (the kind of drift a
    # new contract column without code would cause) stops ingestion with a clear error
    from observatory.config import SourceConfig  # noqa: PLC0415

    src = SourceConfig.model_validate(
        {
            "name": "police",
            "kind": "incidents",
            "format": "csv",
            "path": "landing/*.csv",
            "columns": {"incident_id": "i", "occurred_at": "t", "category": "c", "zone_code": "z"},
        }
    )
    conformed = mapping.CONFORMED_COLUMNS
    grown = {**conformed, "incidents": (*conformed["incidents"], "x")}
    monkeypatch.setattr(mapping, "CONFORMED_COLUMNS", grown)
    with pytest.raises(RuntimeError, match=r"sql/sources/incidents.toml"):
        mapping.compile_conform(src, "b", "Europe/Rome", present=["i", "t", "c", "z"])
