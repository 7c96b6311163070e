"""The real-data example cities, onboarded by config only, built end to end."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from observatory import pipeline
from observatory.config import load_config

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
pytestmark = pytest.mark.skipif(
    not REAL.is_dir(), reason="../shared/data/real is not beside the checkout"
)


def _run(city: str, tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, pipeline.RunReport]:
    cfg = load_config(
        REPO / "examples" / city / "observatory.toml",
        overrides={
            "project": {"data_root": str(REAL), "warehouse": str(tmp_path / f"{city}.duckdb")}
        },
    )
    report = pipeline.run(cfg)
    return duckdb.connect(str(cfg.warehouse_path), read_only=True), report


def test_chicago_builds_every_district_from_three_sources(tmp_path: Path) -> None:
    con, report = _run("chicago", tmp_path)
    with con:
        assert report.failed == []
        batches = con.execute(
            "select source_name, rows_read, rows_accepted, rows_quarantined from ops.batches order by 1"
        ).fetchall()
        assert all(read == acc + quar for _, read, acc, quar in batches)
        by_source = {name: (read, acc) for name, read, acc, _ in batches}
        assert by_source["crimes_2025_sample"] == (
            1000,
            1000,
        )  # 18 without coordinates: by district
        assert by_source["crimes_2020_city"] == (76833, 76833)
        assert by_source["police_sentiment"][1] == 1034  # district rows, band "any"
        districts = {r[0] for r in con.execute("select zone_id from ref.zones").fetchall()}
        assert len(districts) == 23  # 25 features: district 31 is three pieces, merged
        in_mart = {
            r[0] for r in con.execute("select distinct zone_id from marts.zone_index").fetchall()
        }
        assert in_mart == districts
        (with_perception,) = con.execute(
            "select count(distinct zone_id) from staging.stg_survey"
        ).fetchall()[0]
        assert with_perception >= 22
        # the general question stands in for both bands, flagged, and makes no gap
        shares = con.execute(
            "select distinct perception_any_band_share from marts.zone_index "
            "where perception_raw is not null"
        ).fetchall()
        assert shares == [(1.0,)]
        (gaps,) = con.execute("select count(perception_gap) from marts.day_night_gap").fetchall()[0]
        assert gaps == 0
        (all_day,) = con.execute(
            "select count(perception_all_day) from marts.zone_all_day"
        ).fetchall()[0]
        assert all_day > 0
        (city_level,) = con.execute(
            "select count(*) from staging.stg_incidents where zone_id = '_city'"
        ).fetchall()[0]
        assert city_level == 76833
        # the 2020 crimes have no district: they cover no district's month (every district
        # would read zero crimes, "safe"); only the 2025 sample's May is covered
        covered = con.execute(
            "select distinct period_start from marts.zone_index where has_incident_coverage"
        ).fetchall()
        assert [str(p) for (p,) in covered] == ["2025-05-01"]


def test_melbourne_footfall_by_postcode_and_unmatched_sensors_reported(tmp_path: Path) -> None:
    con, report = _run("melbourne", tmp_path)
    with con:
        [batch] = report.batches
        assert (
            batch.rows_read == 744 * 57
            and batch.rows_read == batch.rows_accepted + batch.rows_quarantined
        )
        unmatched = con.execute(
            "select distinct json_extract_string(raw_row, '$.Date') is not null, record_id[:30] "
            "from quarantine.sensors where reason like 'sensor not in the locations file%' limit 100"
        ).fetchall()
        names = {r[1].split("|")[0] for r in unmatched}
        assert names == {"Collins St (North)", "Lincoln-Swanston (W)"}
        footfall = con.execute(
            """
            select zone_id, count(distinct sensor_id) as sensors, sum(value) as people
            from staging.stg_sensors where metric = 'footfall' group by 1 order by 1
            """
        ).fetchall()
        postcodes = {z for z, *_ in footfall}
        assert "3000" in postcodes and len(postcodes) >= 4
        assert all(people > 0 for *_, people in footfall)
