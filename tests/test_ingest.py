"""Ingestion of bad input: clear batch errors, quarantine rows with reasons, idempotency."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from observatory import ingest as ingest_module
from observatory import pipeline
from observatory.config import Config, load_config
from tests.support import city_toml, police_source, query, write_zones

NOW = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
HEADER = "id,ts,lat,lon,cat\n"


@pytest.fixture
def project(tmp_path: Path):
    def make(extra: str = "") -> Config:
        (tmp_path / "landing").mkdir(exist_ok=True)
        write_zones(tmp_path, [("A", "A", 7.6, 45.0, 0.05), ("B", "B", 7.65, 45.0, 0.05)], 1000)
        (tmp_path / "observatory.toml").write_text(
            city_toml() + police_source(extra, 'theft = 1.0\n"né grave" = 2.0'), encoding="utf-8"
        )
        return load_config(tmp_path / "observatory.toml")

    return make


def _land(cfg: Config, name: str, text: str | bytes) -> Path:
    path = cfg.base_dir / "landing" / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_bad_rows_are_quarantined_with_reasons(project) -> None:
    cfg = project()
    _land(
        cfg,
        "a.csv",
        HEADER
        + "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n"  # good, zone A
        + "2,2025-06-01T10:00:00Z,45.05,7.67,theft\n"  # good, zone B
        + "3,2025-06-01T10:00:00Z,45.5,9.19,theft\n"  # outside the city
        + "4,yesterday,45.05,7.62,theft\n"  # unparseable timestamp
        + "5,2099-01-01T00:00:00Z,45.05,7.62,theft\n"  # future
        + "6,2025-06-01T10:00:00Z,45.05,7.62,alien\n"  # unknown category
        + ",2025-06-01T10:00:00Z,45.05,7.62,theft\n"  # missing id
        + "7,2025-06-01T10:00:00Z,45.05,7.62,theft\n"
        + "7,2025-06-01T11:00:00Z,45.05,7.62,theft\n"  # duplicate id (both rows)
        + "8,2025-06-01T10:00:00Z,,,theft\n"  # no coordinates, no zone code
        + "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n",  # exact copy of row 1: first kept
    )
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.status, report.rows_read, report.rows_accepted, report.rows_quarantined) == (
        "loaded",
        11,
        2,
        9,
    )
    reasons = dict(
        query(
            cfg,
            "select coalesce(nullif(json_extract_string(raw_row, '$.id'), ''), '-') "
            "|| '@' || row_number, reason from quarantine.incidents",
        )
    )
    assert "outside the city's extent" in reasons["3@3"]
    assert "not a readable timestamp" in reasons["4@4"]
    assert "in the future" in reasons["5@5"]
    assert "category not in" in reasons["6@6"]
    assert "record id missing" in reasons["-@7"]
    assert "different content" in reasons["7@8"] and "different content" in reasons["7@9"]
    assert "exact copy of an earlier row" in reasons["1@11"]
    assert "no zone" in reasons["8@10"]
    assert query(cfg, "select incident_id, zone_id from validated.incidents order by 1") == [
        ("1", "A"),
        ("2", "B"),
    ]


def test_missing_column_fails_the_batch_and_keeps_the_file(project) -> None:
    cfg = project()
    path = _land(cfg, "a.csv", "id,ts,lat,lon\n1,2025-06-01T10:00:00Z,45.05,7.62\n")
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "failed"
    assert "a.csv" in report.error and "missing column(s) ['cat']" in report.error
    assert path.is_file()
    assert query(cfg, "select status, error like '%cat%' from ops.batches") == [("failed", True)]
    assert query(cfg, "select count(*) from raw.files") == [(0,)]  # nothing archived


def test_header_only_file_is_a_clear_batch_error(project) -> None:
    cfg = project()
    _land(cfg, "a.csv", HEADER)
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "failed" and "no data rows" in report.error


def test_wrong_encoding_is_a_clear_error_and_declared_latin1_reads(project) -> None:
    latin1 = (HEADER + "1,2025-06-01T10:00:00Z,45.05,7.62,né grave\n").encode("latin-1")
    cfg = project()
    _land(cfg, "a.csv", latin1)
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "failed" and "cannot be read as csv" in report.error

    cfg = project('read = { encoding = "latin-1" }')
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "loaded" and report.rows_accepted == 1
    assert query(cfg, "select category, severity from validated.incidents") == [("né grave", 2.0)]


def test_trailing_blank_lines_and_utf8_bom_are_not_rows(project) -> None:
    cfg = project()
    _land(cfg, "a.csv", "\ufeff" + HEADER + "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n\n\n,,,,\n")
    [report] = pipeline.ingest(cfg, now=NOW)
    assert (report.rows_read, report.rows_accepted) == (1, 1)


def test_same_file_twice_adds_nothing_even_renamed(project) -> None:
    cfg = project()
    text = HEADER + "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n"
    _land(cfg, "a.csv", text)
    assert [r.status for r in pipeline.ingest(cfg, now=NOW)] == ["loaded"]
    _land(cfg, "copy_of_a.csv", text)
    assert [r.status for r in pipeline.ingest(cfg, now=NOW)] == ["skipped", "skipped"]
    # one archived file (the raw layer), listed once
    assert query(cfg, "select count(*) from raw.files where source_name = 'police'") == [(1,)]


def test_record_seen_in_an_earlier_batch_is_quarantined(project) -> None:
    cfg = project()
    _land(cfg, "a.csv", HEADER + "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n")
    pipeline.ingest(cfg, now=NOW)
    _land(
        cfg,
        "b.csv",
        HEADER
        + "1,2025-06-02T10:00:00Z,45.05,7.62,theft\n2,2025-06-02T10:00:00Z,45.05,7.62,theft\n",
    )
    reports = pipeline.ingest(cfg, now=NOW)
    assert [(r.status, r.rows_accepted, r.rows_quarantined) for r in reports] == [
        ("skipped", 0, 0),
        ("loaded", 1, 1),
    ]
    [(reason,)] = query(cfg, "select reason from quarantine.incidents")
    assert "already ingested in an earlier batch" in reason


def test_crash_inside_a_batch_leaves_no_partial_rows(project, monkeypatch) -> None:
    cfg = project()
    _land(cfg, "a.csv", HEADER + "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n")
    real_append = ingest_module._append
    calls = []

    def crash_on_first(con, target, sql):  # the manifest row is in, validated crashes
        calls.append(target)
        if len(calls) == 1:
            raise duckdb.IOException("disk full (injected)")
        real_append(con, target, sql)

    monkeypatch.setattr(ingest_module, "_append", crash_on_first)
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "failed" and "disk full" in report.error
    # validated.incidents was created inside the rolled-back transaction: it does not exist,
    # and the archived file is not listed in raw.files.
    assert query(
        cfg,
        "select count(*) from information_schema.tables where table_name = 'incidents' "
        "and table_schema = 'validated'",
    ) == [(0,)]
    assert query(cfg, "select count(*) from raw.files") == [(0,)]
    assert query(cfg, "select count(*) from ops.batches where status = 'loaded'") == [(0,)]
    monkeypatch.setattr(ingest_module, "_append", real_append)
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "loaded" and report.rows_accepted == 1


@pytest.mark.parametrize(
    ("extra", "stamp", "expected_utc"),
    [
        ("", "2025-06-01T10:00:00Z", "2025-06-01 10:00:00"),
        ("", "2025-06-01T12:00:00+02:00", "2025-06-01 10:00:00"),
        ("", "2025-06-01 12:00:00", "2025-06-01 10:00:00"),  # naive = city time (CEST)
        ('timestamp = { timezone = "UTC" }', "2025-06-01 12:00:00", "2025-06-01 12:00:00"),
        (
            "timestamp = { stamped_utc_is_local = true }",
            "2025-06-01T12:00:00Z",
            "2025-06-01 10:00:00",
        ),
        ('timestamp = { format = "%d/%m/%Y %H.%M" }', "01/06/2025 12.00", "2025-06-01 10:00:00"),
    ],
)
def test_timestamp_formats_and_zones(project, extra: str, stamp: str, expected_utc: str) -> None:
    cfg = project(extra)
    _land(cfg, "a.csv", HEADER + f"1,{stamp},45.05,7.62,theft\n")
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.rows_accepted == 1, report
    assert query(
        cfg, "select strftime(occurred_at, '%Y-%m-%d %H:%M:%S') from validated.incidents"
    ) == [(expected_utc,)]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # a placeholder midnight is unknown; a real time is banded by the clock (fixed hours)
        ('timestamp = { placeholder_times = ["00:00"] }', ["unknown", "day", "night"]),
        ("timestamp = { date_only = true }", ["unknown", "unknown", "unknown"]),
        ("", ["night", "day", "night"]),  # without the setting, midnight is night
    ],
)
def test_unknown_times_of_day_are_kept_out_of_day_and_night(
    project, extra: str, expected: list[str]
) -> None:
    cfg = project(extra)
    (cfg.base_dir / "observatory.toml").write_text(
        (cfg.base_dir / "observatory.toml").read_text(encoding="utf-8")
        + '\n[time_bands]\nrule = "fixed"\n',
        encoding="utf-8",
    )
    cfg = load_config(cfg.base_dir / "observatory.toml")
    _land(
        cfg,
        "a.csv",
        HEADER
        + "1,2025-03-04T00:00:00+01:00,45.01,7.61,theft\n"
        + "2,2025-03-04T12:30:00+01:00,45.01,7.61,theft\n"
        + "3,2025-03-04T22:15:00+01:00,45.01,7.61,theft\n",
    )
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.rows_accepted == 3
    pipeline.build(cfg)
    bands = [
        r[0] for r in query(cfg, "select time_band from staging.stg_incidents order by incident_id")
    ]
    assert bands == expected
    # unknown times count in the data-quality figures, not in any day or night cell
    (unknown,) = query(cfg, "select rows_time_unknown from marts.data_quality")[0]
    assert unknown == expected.count("unknown")
    (in_cells,) = query(cfg, "select sum(incident_count) from marts.zone_index")[0]
    assert in_cells == 3 - expected.count("unknown")
