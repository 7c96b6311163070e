"""End to end on the small synthetic demo: landing files -> warehouse -> marts."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from observatory import pipeline
from observatory.cli import app
from tests.conftest import DemoCity


def test_every_batch_loaded_and_reconciled(demo_city: DemoCity) -> None:
    assert demo_city.report.failed == []
    with demo_city.connect() as con:
        rows = con.execute(
            "select batch_id, rows_read, rows_accepted, rows_quarantined, status "
            "from marts.data_quality"
        ).fetchall()
    assert len(rows) == 18  # 6 months x 3 sources
    for batch_id, read, accepted, quarantined, status in rows:
        assert status == "loaded", batch_id
        assert read == accepted + quarantined, batch_id
        assert quarantined > 0, f"{batch_id}: the generator injects bad rows into every file"


def test_every_zone_present_for_both_bands(demo_city: DemoCity) -> None:
    with demo_city.connect() as con:
        cells = con.execute(
            "select zone_id, time_band, count(*) from marts.zone_index group by all"
        ).fetchall()
        zones = {r[0] for r in con.execute("select zone_id from ref.zones").fetchall()}
    assert len(zones) == 20
    assert {(z, b) for z, b, _ in cells} == {(z, b) for z in zones for b in ("day", "night")}
    assert {n for *_, n in cells} == {6}, "six monthly periods per zone and band"


def test_night_feels_less_safe_than_day_in_dark_zones(demo_city: DemoCity) -> None:
    truth = pd.read_csv(demo_city.root / "landing" / "_synthetic_truth.csv")
    dark = truth.loc[truth["lighting"] < 0.3, "zone_id"].tolist()
    assert dark, "the generator builds poorly lit zones"
    with demo_city.connect() as con:
        gap = (
            con.execute(
                """
            select zone_id,
                   avg(perception_score) filter (where time_band = 'night')
                 - avg(perception_score) filter (where time_band = 'day') as gap
            from idx.idx_perception group by zone_id
            """
            )
            .df()
            .set_index("zone_id")["gap"]
        )
    assert (gap.loc[dark] < -15).all(), gap.loc[dark]
    lit = truth.loc[truth["lighting"] > 0.8, "zone_id"]
    assert gap.loc[dark].mean() < gap.loc[lit].mean() - 10


def test_every_injected_bad_row_is_quarantined_with_its_reason(demo_city: DemoCity) -> None:
    injected = pd.read_csv(demo_city.root / "landing" / "_injected_bad_rows.csv").fillna("")
    with demo_city.connect() as con:
        quarantined = con.execute(
            """
            select q.source_name, regexp_extract(b.file_path, '[^/]+$') as file, q.row_number,
                   coalesce(json_extract_string(q.raw_row, '$.sicurezza_giorno'), '') as day_answer,
                   q.record_id, q.reason
            from (select * from quarantine.survey union all select * from quarantine.incidents
                  union all select * from quarantine.sensors) as q
            join ops.batches as b using (batch_id)
            """
        ).df()
    for bad in injected.itertuples():
        rows = quarantined[
            quarantined["source_name"].eq(bad.source)
            & quarantined["file"].eq(bad.file)
            & quarantined["row_number"].eq(bad.row_number)
        ]
        if bad.item_id:
            rows = rows[rows["record_id"].fillna("").str.endswith(bad.item_id)]
        assert len(rows) >= 1, f"not quarantined: {bad}"
        assert rows["reason"].str.contains(bad.reason, regex=False).any(), (bad, rows["reason"])
    # ...and nothing else: every quarantined row was injected on purpose.
    assert len(quarantined) == len(injected)


def test_rerun_changes_no_counts(demo_copy: DemoCity) -> None:
    def counts() -> dict[str, int]:
        with demo_copy.connect() as con:
            return {
                t: con.execute(f"select count(*) from {t}").fetchall()[0][0]
                for t in (
                    "raw.files",
                    "validated.survey",
                    "validated.incidents",
                    "validated.sensors",
                    "quarantine.sensors",
                    "ops.batches",
                    "marts.zone_index",
                )
            }

    before = counts()
    report = pipeline.run(demo_copy.cfg)
    assert {b.status for b in report.batches} == {"skipped"}
    assert counts() == before


def test_cli_status_json_reports_warehouse_and_sources(demo_city: DemoCity) -> None:
    result = CliRunner().invoke(
        app, ["status", "--json", "--config", str(demo_city.root / "observatory.toml")]
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["warehouse"] == str(demo_city.cfg.warehouse_path)
    assert [s["source"] for s in info["sources"]] == [
        "survey_quartieri",
        "incidents_polizia",
        "sensors_street",
    ]
    assert all(s["batches_loaded"] == 6 and s["is_reconciled"] for s in info["sources"])
    assert info["marts"]["zones"] == 20


def test_export_writes_parquet_and_csv(demo_copy: DemoCity) -> None:
    result = CliRunner().invoke(
        app, ["export", "--config", str(demo_copy.root / "observatory.toml")]
    )
    assert result.exit_code == 0, result.output
    parquet = demo_copy.root / "exports" / "zone_index.parquet"
    with demo_copy.connect() as con:
        (n,) = con.execute("select count(*) from marts.zone_index").fetchall()[0]
        (exported,) = con.execute(
            "select count(*) from read_parquet(?)", [str(parquet)]
        ).fetchall()[0]
    assert exported == n
    assert (demo_copy.root / "exports" / "data_quality.csv").is_file()


def test_each_build_records_where_its_time_went(demo_city: DemoCity) -> None:
    with demo_city.connect() as con:
        [(build_id,)] = con.execute(
            "select build_id from ops.builds where status = 'succeeded'"
        ).fetchall()
        steps = dict(
            con.execute(
                "select step, seconds from ops.build_steps where build_id = ?", [build_id]
            ).fetchall()
        )
    expected = (
        ["ref.day_bands"]
        + [f"staging.{m}" for m in pipeline.STAGING_MODELS]
        + [f"index.{m}" for m in pipeline.INDEX_MODELS]
        + [f"marts.{m}" for m in pipeline.MART_MODELS]
        + ["marts.audits", "marts.publication_log"]
    )
    assert sorted(steps) == sorted(expected)
    assert all(s >= 0 for s in steps.values()) and sum(steps.values()) > 0


def test_a_run_leaves_no_work_tables(demo_city: DemoCity) -> None:
    """Batches' and sensor locations' work tables are dropped once their rows are stored."""
    with demo_city.connect() as con:
        left = con.execute(
            "select table_name from information_schema.tables where table_schema = 'work'"
        ).fetchall()
    assert left == []
