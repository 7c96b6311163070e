"""SQL model tests: tiny input tables, the staging and data-quality models, expected rows."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from observatory.config import CityConfig, TimeBandsConfig
from observatory.pipeline import _VALIDATED_COLUMNS
from observatory.sql_util import run_model
from observatory.timebands import write_day_bands
from observatory.warehouse import _OPS_DDL, _QUARANTINE_DDL, SCHEMAS

TURIN = CityConfig(
    id="torino", name="Torino", timezone="Europe/Rome", latitude=45.0703, longitude=7.6869
)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for schema in SCHEMAS:
        con.execute(f"create schema {schema}")
    for kind, cols in _VALIDATED_COLUMNS.items():
        con.execute(f"create table validated.{kind} ({cols})")
    con.execute(_OPS_DDL)  # staging leaves out held batches (ops.batch_holds)
    write_day_bands(con, TURIN, TimeBandsConfig(), dt.date(2025, 6, 1), dt.date(2025, 12, 31))
    # the configured sources (none here: every incident source is its own family)
    con.execute(
        "create table ref.sources (source_name varchar, source_kind varchar, "
        "declared_start date, declared_end date, incident_family varchar, source_level varchar)"
    )
    return con


def test_stg_incidents_local_time_band_and_period(con: duckdb.DuckDBPyConnection) -> None:
    # Turin, 21 June 2025: civil dusk 21:57 CEST = 19:57 UTC.
    con.execute(
        """
        insert into validated.incidents (source_name, batch_id, row_number, record_id,
            incident_id, occurred_at, category, severity, source, zone_id) values
        ('p', 'b1', 1, 'i1', 'i1', '2025-06-21 19:50:00+00', 'theft', 1.0, 'p', 'A'),
        ('p', 'b1', 2, 'i2', 'i2', '2025-06-21 20:05:00+00', 'theft', 1.0, 'p', 'A'),
        ('p', 'b1', 3, 'i3', 'i3', '2025-06-30 22:30:00+00', 'assault', 4.0, 'p', 'B')
        """
    )
    run_model(con, "staging", "stg_incidents", {"city_tz": "Europe/Rome"})
    rows = con.execute(
        "select incident_id, strftime(occurred_local_at, '%Y-%m-%d %H:%M'), time_band, "
        "period_start, has_band_rule from staging.stg_incidents order by 1"
    ).fetchall()
    assert rows == [
        ("i1", "2025-06-21 21:50", "day", dt.date(2025, 6, 1), True),
        ("i2", "2025-06-21 22:05", "night", dt.date(2025, 6, 1), True),
        # 22:30 UTC on 30 June is 00:30 on 1 July in Turin: July's period, at night.
        ("i3", "2025-07-01 00:30", "night", dt.date(2025, 7, 1), True),
    ]


def test_stg_survey_band_comes_from_the_question_not_the_clock(
    con: duckdb.DuckDBPyConnection,
) -> None:
    con.execute(
        """
        insert into validated.survey (source_name, batch_id, row_number, record_id, response_id,
            respondent_id, item_id, time_band, answer, score, weight, surveyed_at, zone_id) values
        ('s', 'b', 1, 'r1|night_q', 'r1', 'p1', 'night_q', 'night', 2, 25.0, 1.0,
         '2025-12-21 10:00:00+00', 'A')
        """
    )
    run_model(con, "staging", "stg_survey", {"city_tz": "Europe/Rome"})
    assert con.execute(
        "select time_band, score, period_start from staging.stg_survey"
    ).fetchall() == [("night", 25.0, dt.date(2025, 12, 1))]


def test_data_quality_reconciles_and_names_the_top_reason(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_OPS_DDL)
    for kind in ("survey", "incidents", "sensors"):
        con.execute(_QUARANTINE_DDL.format(kind=kind))
    con.execute(
        """
        insert into ops.batches (batch_id, source_name, source_kind, file_path, file_hash,
            file_bytes, status, rows_in_file, rows_read, rows_accepted, rows_quarantined, error,
            started_at, finished_at, file_modified_at, rows_non_response) values
        ('p:1', 'p', 'incidents', 'a.csv', 'h1', 10, 'loaded', 5, 5, 3, 2, null, now(), now(), null,
         0),
        ('p:2', 'p', 'incidents', 'b.csv', 'h2', 10, 'failed', null, null, null, null,
         'b.csv: missing column(s)', now(), now(), null, null);
        insert into quarantine.incidents values
        ('p', 'p:1', 1, 'x', '{}', ['e1'], 'no zone; in the future', now(), null, null),
        ('p', 'p:1', 2, 'y', '{}', ['e1'], 'no zone', now(), null, null);
        """
    )
    run_model(con, "marts", "data_quality", {"city_id": "torino"})
    rows = con.execute(
        "select batch_id, status, is_reconciled, top_reason, error from marts.data_quality"
    ).fetchall()
    assert rows == [
        ("p:1", "loaded", True, "no zone", None),
        ("p:2", "failed", None, None, "b.csv: missing column(s)"),
    ]
