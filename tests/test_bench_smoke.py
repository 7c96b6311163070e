"""Smoke run of the benchmark's phases on the small demo (figures are not asserted)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from observatory import bench
from observatory.demo.generator import generate
from tests.conftest import DemoCity


def test_floor_and_baseline_load_the_same_landing_files(demo_copy: DemoCity) -> None:
    rows_floor = bench.floor(demo_copy.root)
    rows_baseline = bench.baseline(demo_copy.root)
    with demo_copy.connect() as con:
        (read,) = con.execute("select sum(rows_in_file) from ops.batches").fetchall()[0]
    assert rows_floor == read  # DuckDB alone reads every data row the pipeline read
    # The baseline keeps accepted rows: survey items are two per row, minus the bad ones.
    assert 0.99 * read < rows_baseline < 1.1 * read
    con = duckdb.connect(str(demo_copy.root / "baseline.duckdb"), read_only=True)
    try:
        zones = con.execute("select count(distinct zone_id) from zone_index").fetchall()[0][0]
    finally:
        con.close()
    assert zones == 20


def test_one_more_day_lands_as_new_files(demo_copy: DemoCity) -> None:
    bench._add_one_day(demo_copy.root, demo_copy.root.parent / "scratch", "small")
    new = sorted(demo_copy.root.glob("landing/**/*_day01.csv"))
    assert [p.parent.name for p in new] == ["incidents", "readings", "survey"]
    assert all(len(p.read_text().splitlines()) > 1 for p in new)


def test_the_increment_profile_counts_only_the_batches_it_ran(demo_copy: DemoCity) -> None:
    """Where (c)'s time went: the batches started after (b)'s last one, and the latest
    build's steps (the increment's own, not the full build's)."""
    before = bench._profile(demo_copy.root)
    assert {p["batches"] for p in before["ingest"]} == {6}  # six months per source
    assert bench._profile(demo_copy.root, after=before["last_finished"])["ingest"] == []
    bench._add_one_day(demo_copy.root, demo_copy.root.parent / "scratch", "small")
    assert bench.pipeline_run(demo_copy.root) > 0
    after = bench._profile(demo_copy.root, after=before["last_finished"])
    assert [(p["source"], p["batches"]) for p in after["ingest"]] == [
        ("incidents_polizia", 1),
        ("sensors_street", 1),
        ("survey_quartieri", 1),
    ]
    assert sum(p["rows"] for p in after["ingest"]) < sum(p["rows"] for p in before["ingest"]) / 50
    with demo_copy.connect() as con:
        (builds,) = con.execute("select count(distinct build_id) from ops.build_steps").fetchone()
    assert builds == 2 and after["build_steps"] and after["per_batch_steps"]


def test_the_increment_runs_the_morning_after_its_day(tmp_path: Path) -> None:
    """(b) runs the morning after the workload's last day and (c) the morning after the
    day it adds, as a daily run would: that day's month is provisional in (c), and no
    intervention evaluation reads it, so (c) keeps every one."""
    root = tmp_path / "small"
    generate(root, scale="small")
    assert bench.pipeline_run_b(root) > 0
    bench._add_one_day(root, tmp_path / "scratch", "small")
    assert bench.increment_run(root) > 0
    with duckdb.connect(str(root / "warehouse" / "observatory.duckdb"), read_only=True) as con:
        periods = dict(
            con.execute("select period_start, is_provisional from idx.idx_periods").fetchall()
        )
        published = [
            r[0] for r in con.execute("select published_at from marts.publication_log").fetchall()
        ]
        effects = con.execute(
            "select count(*), max(post_end) from idx.idx_intervention_effects"
        ).fetchone()
    assert periods[dt.date(2026, 1, 1)] is True
    assert not any(v for k, v in periods.items() if k < dt.date(2026, 1, 1))
    assert {p.astimezone(dt.UTC) for p in published} == {bench.CLOCK_B, bench.CLOCK_C}
    assert effects[0] == 27 and effects[1] < dt.date(2026, 1, 1)


def test_the_increment_runs_again_in_a_warm_worker_from_the_same_warehouse(
    tmp_path: Path,
) -> None:
    """`bench --phase c` times the day twice from (b)'s warehouse: in a fresh process and
    in a warm worker (the imports done before the clock starts, observatory.ops.warm). Both
    load the day's three files, so the second started from the warehouse the first did."""
    phases = {p["name"]: p for p in bench.run_phases(tmp_path, "small", ["c"])["phases"]}
    assert list(phases) == [
        "b_pipeline_full",
        "c_incremental_one_day",
        bench.WARM_PHASE,
        "c_imports_alone",
    ]
    cold, warm = phases["c_incremental_one_day"], phases[bench.WARM_PHASE]
    assert cold["rows"] == warm["rows"] > 0
    assert not (tmp_path / "small" / "before-c").exists()
    with duckdb.connect(str(tmp_path / "small" / "warehouse" / "observatory.duckdb")) as con:
        (builds,) = con.execute("select count(distinct build_id) from ops.build_steps").fetchone()
    assert builds == 2  # (b)'s and the warm increment's, not the cold one's as well
