"""Ingest on its own, measured, and the outcome it leaves, as content hashes (issue 18).

    python -m observatory.bench_ingest var/bench/xl --scratch /tmp/xl-ingest
    python -m observatory.bench_ingest var/bench/xl --scratch /tmp/xl2 --months 2 --hashes \
        --now 2026-12-02T00:00:00+00:00

copies a project's config and its monthly landing files (hard links; the bench's one-day
files, `*_day*`, are left out, and `--months n` keeps each source's first n files) into a
scratch folder with a fresh warehouse, ingests every source (the same `pipeline.ingest` the
CLI and Airflow run), and prints each source's wall and CPU seconds and each step's mean
seconds per batch (`ops.batch_steps`, wall and CPU), and the process's peak RSS.

`--hashes` prints, as JSON, an order-free content hash and row count of everything a batch
decides: the validated and non-response rows, the quarantine rows and reasons, the batches'
counts, the validation results and the manifest (times, run ids and the warehouse folder
left out). Two runs that print the same hashes ingested the same outcome: the check that a
change of the ingest's speed changed none of its results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import duckdb

#: Per table: the columns left out of its hash (when a batch ran, under which run id).
_VOLATILE = {
    "quarantine": ("quarantined_at",),
    "ops.batches": ("started_at", "finished_at", "file_path", "file_modified_at"),
    "ops.validation_results": ("run_id",),
    "raw.files": ("archived_at", "stored_path", "original_path"),
}


def prepare(project: Path, scratch: Path, months: int | None) -> Path:
    """A copy of `project` (config and monthly landing files) under `scratch`; its config."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    shutil.copy2(project / "observatory.toml", scratch / "observatory.toml")
    landing = project / "landing"
    by_folder: dict[Path, list[Path]] = {}
    for path in sorted(landing.rglob("*")):
        if path.is_file() and "_day" not in path.name:
            by_folder.setdefault(path.parent, []).append(path)
    for files in by_folder.values():
        monthly = [p for p in files if p.stem[-2:].isdigit() and p.suffix == ".csv"]
        keep = set(monthly[:months]) if months and len(monthly) > 1 else set(monthly)
        for path in files:
            if path in monthly and path not in keep:
                continue
            dest = scratch / path.relative_to(project)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, dest)
    return scratch / "observatory.toml"


def _cpu() -> float:
    """CPU seconds of the process and of the children it waited for (zstd)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def ingest_timed(config: Path, now: dt.datetime | None = None) -> list[dict[str, object]]:
    """Ingest every source of `config`, one after the other; seconds of each (wall, CPU).
    `now`: the run's clock (the suites' "not in the future" bound), for hashes to compare."""
    from observatory.config import load_config  # noqa: PLC0415
    from observatory.pipeline import ingest  # noqa: PLC0415

    cfg = load_config(config)
    out = []
    for src in cfg.sources:
        wall, cpu = time.perf_counter(), _cpu()
        reports = ingest(cfg, sources=[src.name], now=now)
        out.append(
            {
                "source": src.name,
                "batches": sum(1 for r in reports if r.status == "loaded"),
                "failed": [r.error for r in reports if r.status == "failed"],
                "rows": sum(r.rows_read for r in reports),
                "wall": round(time.perf_counter() - wall, 2),
                "cpu": round(_cpu() - cpu, 2),
            }
        )
    return out


def step_means(warehouse: Path) -> list[tuple]:
    """Each source's mean seconds per step per batch (wall, and CPU where recorded)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cols = {r[0] for r in con.execute("describe ops.batch_steps").fetchall()}
        cpu = "round(avg(s.cpu_seconds), 3)" if "cpu_seconds" in cols else "null"
        return con.execute(
            f"select b.source_name, s.step, round(avg(s.seconds), 3), {cpu} "  # noqa: S608 (a column expression from code)
            "from ops.batch_steps as s join ops.batches as b using (batch_id) "
            "where b.status = 'loaded' group by all order by 1, min(s.rowid)"
        ).fetchall()
    finally:
        con.close()


def outcome_hashes(warehouse: Path) -> dict[str, list]:
    """Order-free content hash and row count of each table a batch writes."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [
            f"{s}.{t}"
            for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('validated', 'quarantine') "
                "or (table_schema, table_name) in "
                "(('ops', 'batches'), ('ops', 'validation_results'), ('raw', 'files')) "
                "order by 1, 2"
            ).fetchall()
        ]
        out = {}
        for table in tables:
            left_out = _VOLATILE.get(table, _VOLATILE.get(table.split(".")[0], ()))
            cols = [
                r[0] for r in con.execute(f"describe {table}").fetchall() if r[0] not in left_out
            ]
            row = ", ".join(f'"{c}"' for c in cols)
            (total, n) = con.execute(
                f"select coalesce(sum(hash(struct_pack({row}))::hugeint), 0)::varchar, count(*) "  # noqa: S608 (tables and columns from the catalog, quoted)
                f"from {table}"
            ).fetchall()[0]
            out[table] = [total, n]
        return out
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path, help="a project folder (observatory.toml, landing/)")
    parser.add_argument("--scratch", type=Path, required=True, help="emptied, then used")
    parser.add_argument("--months", type=int, default=None, help="each source's first n files")
    parser.add_argument("--hashes", action="store_true", help="print the outcome's hashes")
    parser.add_argument(
        "--now",
        type=dt.datetime.fromisoformat,
        default=None,
        help="the run's clock, e.g. 2026-12-02T00:00:00+00:00 (the suites bound timestamps "
        "by it: two runs compared by their hashes need the same)",
    )
    args = parser.parse_args(argv)
    from observatory.config import load_config  # noqa: PLC0415

    config = prepare(args.project.resolve(), args.scratch.resolve(), args.months)
    wall, cpu = time.perf_counter(), _cpu()
    sources = ingest_timed(config, args.now)
    total = {"wall": round(time.perf_counter() - wall, 2), "cpu": round(_cpu() - cpu, 2)}
    warehouse = load_config(config).warehouse_path
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for s in sources:
        print(
            f"{s['source']:<20} {s['batches']:>3} batches {s['rows']:>11,} rows "
            f"wall {s['wall']:>7.2f} s  cpu {s['cpu']:>7.2f} s"
            + (f"  FAILED {s['failed']}" if s["failed"] else "")
        )
    print(
        f"{'all sources':<20} wall {total['wall']:.2f} s  cpu {total['cpu']:.2f} s  "
        f"peak RSS {peak:.0f} MB"
    )
    current = None
    for source, step, secs, cpu_secs in step_means(warehouse):
        if source != current:
            print(f"  per batch of {source}:")
            current = source
        shown = f"    {step:<9} wall {secs:.3f}"
        print(shown + (f"  cpu {cpu_secs:.3f}" if cpu_secs is not None else ""))
    if args.hashes:
        print(json.dumps(outcome_hashes(warehouse), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
