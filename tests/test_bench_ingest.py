"""The ingest-only measurement and its outcome hashes (observatory.bench_ingest, issue 18)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from observatory import bench_ingest
from observatory.config import load_config
from observatory.demo.generator import generate

NOW = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)


def test_the_outcome_hash_ignores_when_a_batch_ran_and_sees_what_it_decided(
    tmp_path: Path,
) -> None:
    """A small city's first month of each source, ingested: every source loads, each step
    has wall and CPU seconds, and the hashes move with a quarantine reason or an accepted
    value but not with the times and run ids of the batches."""
    generate(tmp_path / "city", scale="small")
    config = bench_ingest.prepare(tmp_path / "city", tmp_path / "scratch", months=1)
    sources = bench_ingest.ingest_timed(config, NOW)
    assert {s["source"] for s in sources} == {s.name for s in load_config(config).sources}
    assert all(s["batches"] == 1 and not s["failed"] for s in sources)
    warehouse = load_config(config).warehouse_path
    steps = bench_ingest.step_means(warehouse)
    assert {step for _, step, _, _ in steps} >= {"read", "conform", "validate", "append"}
    assert all(cpu is not None and cpu >= 0 for *_, cpu in steps)
    before = bench_ingest.outcome_hashes(warehouse)
    assert before["quarantine.sensors"][1] > 0 and before["validated.sensors"][1] > 0

    con = duckdb.connect(str(warehouse))
    con.execute("update quarantine.sensors set quarantined_at = quarantined_at + interval 1 day")
    con.execute("update ops.validation_results set run_id = run_id || 'x'")
    con.execute("update ops.batches set finished_at = finished_at + interval 1 hour")
    con.close()
    assert bench_ingest.outcome_hashes(warehouse) == before

    con = duckdb.connect(str(warehouse))
    con.execute(
        "update quarantine.sensors set reason = reason || '!' "
        "where rowid = (select min(rowid) from quarantine.sensors)"
    )
    con.execute(
        "update validated.sensors set value = value + 1 "
        "where rowid = (select min(rowid) from validated.sensors)"
    )
    con.close()
    after = bench_ingest.outcome_hashes(warehouse)
    assert after["quarantine.sensors"] != before["quarantine.sensors"]
    assert after["validated.sensors"] != before["validated.sensors"]
    assert after["validated.incidents"] == before["validated.incidents"]
