"""Severity of an expectation: `error` quarantines the failing rows, `warn` only reports.

A tiny project keeps its own suite folder (`[project] expectations`) with additions for its
source; the kind's suite still comes from the package. Real GX and DuckDB, no mocks.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from observatory import pipeline
from observatory.config import Config, ConfigError, load_config
from observatory.ingest import BatchReport
from tests.support import city_toml, police_source, query, write_zones

NOW = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
PROJECT = city_toml(project='expectations = "suites"') + police_source()
#: Additions for the source `police`: north of 45.05 only warns, east of 7.65 quarantines.
ADDITIONS = {
    "name": "police",
    "expectations": [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "latitude", "max_value": 45.05},
            "meta": {"severity": "warn", "reason": "north of the test line"},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "longitude", "max_value": 7.65},
            "meta": {"severity": "error", "reason": "east of the test line"},
        },
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"max_value": 2},
            "meta": {"severity": "warn", "reason": "more rows than usual"},
        },
    ],
}
ROWS = (
    "id,ts,lat,lon,cat\n"
    "1,2025-06-01T10:00:00Z,45.02,7.62,theft\n"  # passes everything
    "2,2025-06-01T10:00:00Z,45.08,7.62,theft\n"  # fails the warn check only
    "3,2025-06-01T10:00:00Z,45.02,7.68,theft\n"  # fails the error check
    "4,2025-06-01T10:00:00Z,45.08,7.68,theft\n"  # fails both
)


def _project(root: Path, suites: bool = True) -> Config:
    (root / "landing").mkdir(parents=True)
    (root / "landing" / "a.csv").write_text(ROWS, encoding="utf-8")
    write_zones(root, [("A", "A", 7.6, 45.0, 0.1)])
    (root / "observatory.toml").write_text(PROJECT, encoding="utf-8")
    if suites:
        (root / "suites").mkdir()
        (root / "suites" / "police.json").write_text(json.dumps(ADDITIONS), encoding="utf-8")
    return load_config(root / "observatory.toml")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, BatchReport]:
    cfg = _project(tmp_path_factory.mktemp("severity"))
    [report] = pipeline.ingest(cfg, now=NOW)
    return cfg, report


def test_warn_failure_keeps_the_row_and_error_failure_quarantines_it(ingested) -> None:
    cfg, report = ingested
    assert (report.status, report.rows_read, report.rows_accepted, report.rows_quarantined) == (
        "loaded",
        4,
        2,
        2,
    )
    assert query(cfg, "select incident_id from validated.incidents order by 1") == [("1",), ("2",)]
    # Only the error check gives reasons: the warn check is not among them.
    assert query(
        cfg,
        "select record_id, reason, failed_expectations from quarantine.incidents order by 1",
    ) == [
        ("3", "east of the test line", ["expect_column_values_to_be_between(longitude)"]),
        ("4", "east of the test line", ["expect_column_values_to_be_between(longitude)"]),
    ]


def test_both_failures_are_reported_in_the_results_table(ingested) -> None:
    cfg, _ = ingested
    rows = query(
        cfg,
        """
        select column_name, severity, success, unexpected_count
        from ops.validation_results
        where expectation_type = 'expect_column_values_to_be_between'
          and column_name in ('latitude', 'longitude') and kwargs->>'max_value' is not null
          and cast(kwargs->>'max_value' as double) in (45.05, 7.65)
        order by column_name
        """,
    )
    assert rows == [("latitude", "warn", False, 2), ("longitude", "error", False, 2)]


def test_warn_table_level_failure_does_not_fail_the_batch(ingested) -> None:
    cfg, report = ingested
    assert report.status == "loaded"
    assert query(
        cfg,
        "select severity, success, sample_values from ops.validation_results "
        "where expectation_type = 'expect_table_row_count_to_be_between' "
        "and kwargs->>'max_value' = '2'",
    ) == [("warn", False, "[4]")]


def test_kind_suite_still_comes_from_the_package(ingested) -> None:
    cfg, _ = ingested
    assert query(cfg, "select suite_name from ops.validation_runs") == [("incidents.police",)]
    package_suite = Path(__file__).parents[1] / "expectations" / "incidents.json"
    unbound = [
        (e["type"], e["kwargs"].get("column"))
        for e in json.loads(package_suite.read_text(encoding="utf-8"))["expectations"]
        if "$PARAMETER" not in json.dumps(e["kwargs"])
    ]
    ran = set(query(cfg, "select expectation_type, column_name from ops.validation_results"))
    assert unbound and set(unbound) <= ran


def test_missing_project_suite_folder_is_a_clear_error(tmp_path: Path) -> None:
    cfg = _project(tmp_path, suites=False)
    with pytest.raises(ConfigError, match=r"project.expectations: folder not found: .*suites"):
        pipeline.ingest(cfg, now=NOW)
