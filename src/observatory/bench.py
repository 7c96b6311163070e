"""`observatory bench`: the city-scale benchmark (issue 7), printed as figures.

Phases, each in a fresh child process so that its peak RSS is its own:
  (a) floor:       DuckDB alone loads the same landing CSVs into tables of a new file;
  (b) pipeline:    the observatory's full run (ingest, validate, stage, index, marts);
  (c) incremental: one more day of data for each source, then the run again;
  (d) baseline:    pandas + GX on DataFrames doing (b)'s steps (bench_baseline.py);
  (e) half:        the pipeline on a workload half the size, for the growth ratio;
  (f) five years:  the pipeline on five years of the same 200 zones (the memory run; the
                   `xl` benchmark only, `--no-five-years` leaves it out).
The workload is the demo generator's `xl` scale (200 zones, ~100k survey responses,
~1M incidents, ~15M sensor readings) unless another is asked for.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path

from observatory import progress
from observatory.sql_util import literal

_CHILD = """
import json, sys, time
from pathlib import Path
from observatory import bench
if sys.argv[3:] == ["warm"]:  # a warm worker: its imports were done before the task forked
    from observatory.ops import warm
    warm.preload()
t0 = time.perf_counter()
rows = getattr(bench, sys.argv[1])(Path(sys.argv[2]))
sys.stdout.write(json.dumps({"seconds": time.perf_counter() - t0, "rows": rows}) + "\\n")
sys.stdout.flush()
import os
os._exit(0)
"""


@dataclass
class Phase:
    """One measured phase."""

    name: str
    seconds: float
    rows: int
    peak_rss_mb: float

    @property
    def rows_per_second(self) -> float:
        """Throughput."""
        return self.rows / self.seconds if self.seconds else 0.0


def _measure(name: str, func: str, root: Path, *, warm: bool = False) -> Phase:
    """Run `bench.<func>(root)` in a child process; time it and read its peak RSS. With
    `warm`, the child first imports what an Airflow worker preloads (observatory.ops.warm),
    untimed, as a worker does once before it forks its tasks."""
    proc = subprocess.Popen(  # noqa: S603 (this Python, fixed code, no shell)
        [sys.executable, "-c", _CHILD, func, str(root), *(["warm"] if warm else [])],
        stdout=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"bench phase {name} failed (exit {status})")
    result = json.loads(out.strip().splitlines()[-1])
    return Phase(name, result["seconds"], int(result["rows"]), usage.ru_maxrss / 1024)


def _landing_csvs(root: Path) -> dict[str, str]:
    landing = root / "landing"
    return {
        "survey": str(landing / "survey" / "*.csv"),
        "incidents": str(landing / "incidents" / "*.csv"),
        "sensors": str(landing / "sensors" / "readings" / "*.csv"),
    }


def floor(root: Path) -> int:
    """(a) DuckDB alone: load the landing CSVs into typed tables of a fresh file."""
    import duckdb  # noqa: PLC0415

    target = root / "floor.duckdb"
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    con.execute("set memory_limit = '1GB'")
    total = 0
    for kind, pattern in _landing_csvs(root).items():
        delim = ";" if kind == "survey" else ","
        con.execute(
            f"create table {kind} as select * from read_csv({literal(str(pattern))}, "  # noqa: S608 (kind from code; path and delimiter escaped by literal())
            f"delim = {literal(delim)})"
        )
        total += con.execute(f"select count(*) from {kind}").fetchall()[0][0]  # noqa: S608 (kind from code)
    con.close()
    return int(total)


#: The clocks of (b) and (c), as a daily run sees them: (b) the morning after the
#: workload's last day (31 December 2025: every month final), (c) the morning after the
#: day it adds (`_add_one_day`): January is then the month still being delivered.
CLOCK_B = dt.datetime(2026, 1, 1, 5, tzinfo=dt.UTC)
CLOCK_C = dt.datetime(2026, 1, 2, 5, tzinfo=dt.UTC)


def pipeline_run(root: Path, clock: dt.datetime | None = None) -> int:
    """(e) and (f): the observatory's whole run on the project at `root` (on `clock`,
    else the wall clock)."""
    from observatory import pipeline  # noqa: PLC0415
    from observatory.config import load_config  # noqa: PLC0415

    report = pipeline.run(load_config(root / "observatory.toml"), now=clock)
    if report.failed:
        raise RuntimeError(f"{len(report.failed)} batch(es) failed: {report.failed[0].error}")
    return sum(b.rows_read for b in report.batches if b.status == "loaded")


def pipeline_run_b(root: Path) -> int:
    """(b): the whole run, the morning after the workload's last day."""
    return pipeline_run(root, CLOCK_B)


def increment_run(root: Path) -> int:
    """(c): the run again, the morning after the day `_add_one_day` landed."""
    return pipeline_run(root, CLOCK_C)


def import_stack(root: Path) -> int:  # noqa: ARG001 (a phase function's signature)
    """What a one-day increment imports before its first row, alone (no work): the
    observatory's ingest and index, GX (the suites), scikit-learn (the perception model),
    skops (its kept fits) and pyfixest (the interventions). A fresh process pays it on
    every run; it bounds the increment (c) from below on this machine."""
    import great_expectations  # noqa: F401, PLC0415
    import pyfixest  # noqa: F401, PLC0415
    import sklearn.ensemble  # noqa: F401, PLC0415
    import sklearn.linear_model  # noqa: F401, PLC0415
    import sklearn.model_selection  # noqa: F401, PLC0415
    import skops.io  # noqa: F401, PLC0415

    import observatory.index.steps  # noqa: F401, PLC0415
    import observatory.pipeline  # noqa: F401, PLC0415

    return 0


def baseline(root: Path) -> int:
    """(d) the straightforward pandas + GX-DataFrame implementation."""
    from observatory.bench_baseline import run_baseline  # noqa: PLC0415

    return run_baseline(root)


def _add_one_day(root: Path, scratch: Path, scale: str) -> None:
    """Land one more day (1 January 2026) of every source, as new files."""
    import datetime as dt  # noqa: PLC0415

    import duckdb  # noqa: PLC0415

    from observatory.demo.generator import generate  # noqa: PLC0415

    shutil.rmtree(scratch, ignore_errors=True)
    generate(scratch, scale=f"{scale}-month", start=dt.date(2026, 1, 1))
    con = duckdb.connect()
    for folder, column, prefix, delim in (
        ("survey", "data_compilazione", "01/01/2026", ";"),
        ("incidents", "occurred_at", "2026-01-01", ","),
        ("sensors/readings", "timestamp", "2026-01-01", ","),
    ):
        [src] = sorted((scratch / "landing" / folder).glob("*.csv"))
        out = root / "landing" / folder / f"{src.stem}_day01.csv"
        con.execute(
            f"copy (select * from read_csv({literal(str(src))}, all_varchar = true, "  # noqa: S608 (column from code; paths and values escaped by literal())
            f"delim = {literal(delim)}) where starts_with({column}, {literal(prefix)})) "
            f"to {literal(str(out))} (header, delimiter {literal(delim)})"
        )
    con.close()
    shutil.rmtree(scratch, ignore_errors=True)


def _profile(root: Path, after: object = None) -> dict[str, object]:
    """Where phase (b)'s time went, from the warehouse's own records: seconds per source's
    batches (`ops.batches`) and per build step (`ops.build_steps`) of the latest build.
    With `after` (the `last_finished` of an earlier profile), only the batches started
    since: where the increment (c)'s time went."""
    import duckdb  # noqa: PLC0415

    from observatory.config import load_config  # noqa: PLC0415

    con = duckdb.connect(str(load_config(root / "observatory.toml").warehouse_path), read_only=True)

    def loaded(of: str = "") -> str:  # the loaded batches (since `after`, if given)
        return f"{of}status = 'loaded' and {of}started_at > coalesce(?::timestamptz, '-infinity')"

    since = [after]
    try:
        ingest = con.execute(
            "select source_name, count(*), sum(rows_read), "  # noqa: S608 (fixed text)
            "round(sum(epoch(finished_at) - epoch(started_at)), 2) "
            f"from ops.batches where {loaded()} group by 1 order by 1",
            since,
        ).fetchall()
        steps = con.execute(
            "select step, round(seconds, 2) from ops.build_steps "
            "where build_id = (select max(build_id) from ops.build_steps) order by seconds desc"
        ).fetchall()
        # ingest on its own: first batch started to last finished (imports of GX, zones and
        # sensor locations included, the build not), and each step's seconds per batch
        ingest_seconds, last_finished = con.execute(
            "select round(epoch(max(finished_at)) - epoch(min(started_at)), 2), "  # noqa: S608
            f"max(finished_at)::varchar from ops.batches where {loaded()}",
            since,
        ).fetchall()[0]
        per_batch = con.execute(
            "select b.source_name, s.step, round(avg(s.seconds), 3) "  # noqa: S608 (fixed text)
            "from ops.batch_steps as s join ops.batches as b using (batch_id) "
            f"where {loaded('b.')} group by all order by 1, min(s.rowid)",
            since,
        ).fetchall()
    finally:
        con.close()
    breakdown: dict[str, dict[str, float]] = {}
    for source, step, seconds in per_batch:
        breakdown.setdefault(source, {})[step] = seconds
    return {
        "ingest_seconds": ingest_seconds,
        "last_finished": last_finished,
        "per_batch_steps": breakdown,
        "ingest": [
            {"source": s, "batches": n, "rows": int(r), "seconds": sec} for s, n, r, sec in ingest
        ],
        "build_steps": [{"step": step, "seconds": sec} for step, sec in steps],
    }


#: The phases in order: (name, function of this module run in a child, which workload).
_PHASES = (
    ("a_floor_duckdb_load", "floor", "full"),
    ("b_pipeline_full", "pipeline_run_b", "full"),
    ("c_incremental_one_day", "increment_run", "full"),
    ("d_baseline_pandas_gx", "baseline", "full"),
    ("e_pipeline_half_workload", "pipeline_run", "half"),
)


def _prepare(workloads: tuple[tuple[Path, str], ...], bar: progress.Task) -> None:
    """Generate the workloads that are absent; reset the others to a fresh start."""
    from observatory.demo.generator import generate  # noqa: PLC0415

    for root, sc in workloads:
        if not (root / "landing").is_dir():
            bar.update(item=f"generating the {sc} workload")
            generate(root, scale=sc)
            bar.advance(1)
        # The project file is the package's current one, even for a workload kept from an
        # earlier run; the day added by (c) last time is removed.
        template = files("observatory.demo").joinpath("observatory.toml").read_text("utf-8")
        (root / "observatory.toml").write_text(template, encoding="utf-8")
        for extra in (root / "landing").glob("**/*_day01.csv"):
            extra.unlink()
        shutil.rmtree(root / "warehouse", ignore_errors=True)


#: The memory run's workload beside a benchmark scale (phase f).
_FIVE_YEARS = {"xl": "xl-5y"}


def run_bench(
    target: Path, scale: str = "xl", keep: bool = False, five_years: bool = True
) -> dict[str, object]:
    """Generate the workloads (if absent), run every phase, and return the figures.

    Progress (the phase running, rows per second of those done, time left) is shown as the
    command line's display says (observatory.progress); phases run in child processes.
    Phase (f), the five-year memory run, runs for the `xl` scale unless `five_years` is
    False.
    """
    phases: list[Phase] = []
    workloads = [(target / scale, scale), (target / f"{scale}-half", f"{scale}-half")]
    long_scale = _FIVE_YEARS.get(scale) if five_years else None
    if long_scale:
        workloads.append((target / long_scale, long_scale))
    missing = [root for root, _ in workloads if not (root / "landing").is_dir()]
    chosen = [*_PHASES, *([("f_pipeline_five_years", "pipeline_run", "long")] * bool(long_scale))]
    with progress.task("bench", len(missing) + len(chosen), "steps") as bar:
        _prepare(tuple(workloads), bar)
        roots = {"full": target / scale, "half": target / f"{scale}-half"}
        if long_scale:
            roots["long"] = target / long_scale
        full = roots["full"]
        for name, func, which in chosen:
            bar.update(item=f"phase {name}")
            if name == "c_incremental_one_day":
                profile = _profile(full)  # before (c) adds to the same warehouse
                _copy_warehouse(full / "warehouse", target / "before-c")
                _add_one_day(full, target / "day", scale)  # generating the day is not timed
            phases.append(_measure(name, func, roots[which]))
            bar.advance(1, rows=phases[-1].rows)
            if name == "c_incremental_one_day":
                profile_c = _profile(full, after=profile["last_finished"])
                phases.append(_warm_increment(full, target / "before-c"))
                profile_warm = _profile(full, after=profile["last_finished"])
        imports = _measure("c_imports_alone", "import_stack", full)
    by = {p.name: p for p in phases}
    a, b, d = by["a_floor_duckdb_load"], by["b_pipeline_full"], by["d_baseline_pandas_gx"]
    e = by["e_pipeline_half_workload"]
    figures = {
        "phases": [asdict(p) | {"rows_per_second": round(p.rows_per_second)} for p in phases],
        "ratio_b_over_a": round(b.seconds / a.seconds, 2),
        "ratio_d_over_b": round(d.seconds / b.seconds, 2),
        "growth_full_over_half": round(b.seconds / e.seconds, 2),
        "incremental_seconds": round(by["c_incremental_one_day"].seconds, 2),
        "incremental_warm_seconds": round(by[WARM_PHASE].seconds, 2),
        "incremental_imports_seconds": round(imports.seconds, 2),
        "peak_rss_mb_pipeline": round(
            max(b.peak_rss_mb, by["c_incremental_one_day"].peak_rss_mb, by[WARM_PHASE].peak_rss_mb)
        ),
        "profile_b": profile,
        "profile_c": profile_c,
        "profile_c_warm": profile_warm,
        "ingest_seconds": profile["ingest_seconds"],
        "ratio_ingest_over_a": round(float(profile["ingest_seconds"] or 0) / a.seconds, 2),
    }
    if "f_pipeline_five_years" in by:
        figures["peak_rss_mb_five_years"] = round(by["f_pipeline_five_years"].peak_rss_mb)
    if not keep:
        for root in roots.values():
            shutil.rmtree(root / "warehouse", ignore_errors=True)
    return figures


#: Workloads beside the benchmark's own: `5y` is five years of the 200-zone city (sensors
#: hourly instead of every 15 minutes, the rest at `xl` density) for the memory run.
WORKLOADS = {"xl": "xl", "5y": "xl-5y", "small": "small"}


def _reset(root: Path) -> None:
    template = files("observatory.demo").joinpath("observatory.toml").read_text("utf-8")
    (root / "observatory.toml").write_text(template, encoding="utf-8")
    for extra in (root / "landing").glob("**/*_day01.csv"):
        extra.unlink()
    shutil.rmtree(root / "warehouse", ignore_errors=True)


#: (c) again, in a warm worker: the day's run on the warehouse (b) left, in a child that
#: imported what an Airflow worker preloads before the clock started (observatory.ops.warm).
WARM_PHASE = "c_incremental_warm_worker"


def _copy_warehouse(source: Path, to: Path) -> None:
    shutil.rmtree(to, ignore_errors=True)
    shutil.copytree(source, to)


def _warm_increment(root: Path, before: Path) -> Phase:
    """The increment (c) again from the warehouse it started from (`before`, consumed),
    the day's files still in the landing folder, in a warm worker."""
    shutil.rmtree(root / "warehouse")
    before.rename(root / "warehouse")
    return _measure(WARM_PHASE, "increment_run", root, warm=True)


def _keep_b(root: Path, kept: Path) -> None:
    """Keep the warehouse (b) left, marked with the clock it was built on."""
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(root / "warehouse", kept)
    (kept / "clock").write_text(CLOCK_B.isoformat(), encoding="utf-8")


def _kept_on_clock_b(kept: Path) -> bool:
    marker = kept / "clock"
    return marker.is_file() and marker.read_text(encoding="utf-8") == CLOCK_B.isoformat()


def run_phases(target: Path, scale: str, letters: list[str]) -> dict[str, object]:
    """Only the phases named by their letters (`--phase c`), on a kept workload.

    (c) alone starts from the warehouse (b) left, kept as `<workload>/warehouse-b` by any
    run of (b) through this function (the first such run of (c) runs (b) first); the day
    it adds is removed again, so (c) can be timed again and again.
    """
    from observatory.demo.generator import generate  # noqa: PLC0415

    chosen = [p for p in _PHASES if p[0][0] in letters]
    phases: list[Phase] = []
    with progress.task("bench", len(chosen) + 1, "steps") as bar:
        for name, func, which in chosen:
            root = target / (scale if which == "full" else f"{scale}-half")
            if not (root / "landing").is_dir():
                bar.update(item=f"generating the {root.name} workload")
                generate(root, scale=root.name)
            bar.update(item=f"phase {name}")
            kept = root / "warehouse-b"
            if not _kept_on_clock_b(kept):  # kept by a bench older than the clocks
                shutil.rmtree(kept, ignore_errors=True)
            if name.startswith("c") and kept.is_dir():
                _reset(root)
                shutil.copytree(kept, root / "warehouse")
                _add_one_day(root, target / "day", scale)
            elif name.startswith("c"):
                _reset(root)
                phases.append(_measure("b_pipeline_full", "pipeline_run_b", root))
                _keep_b(root, kept)
                _add_one_day(root, target / "day", scale)
            elif func in ("pipeline_run", "pipeline_run_b"):
                _reset(root)
            phases.append(_measure(name, func, root))
            if name.startswith("b"):
                _keep_b(root, kept)
            bar.advance(1, rows=phases[-1].rows)
            if name.startswith("c"):
                _copy_warehouse(kept, root / "before-c")
                phases.append(_warm_increment(root, root / "before-c"))
                phases.append(_measure("c_imports_alone", "import_stack", root))
    return {"phases": [asdict(p) | {"rows_per_second": round(p.rows_per_second)} for p in phases]}
