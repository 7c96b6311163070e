"""Smoke run of the benchmark's phases on the small demo (figures are not asserted)."""

from __future__ import annotations

import duckdb

from observatory import bench
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
