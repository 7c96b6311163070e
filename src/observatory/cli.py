"""`observatory`: the command line for analysts and data engineers.

Every command takes `--config` (default: ./observatory.toml, else the demo's
var/demo/observatory.toml). A user's mistake (missing file, bad config, unknown source)
prints one clear line and exits with code 2; failed batches exit with code 1.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer

from observatory import progress
from observatory.config import Config, ConfigError, load_config
from observatory.ingest import BatchReport
from observatory.network.cli import network_app
from observatory.sources.readers import BatchError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
DEMO_DIR = Path("var/demo")
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="project file (TOML)", show_default=False)
]


def _fail(message: str, code: int = 2) -> None:
    """Print each problem as its own `error:` line on stderr, then exit with `code`."""
    for line in message.splitlines() or [message]:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def _config(path: Path | None) -> Config:
    if path is None:
        path = Path("observatory.toml")
        if not path.is_file():
            path = DEMO_DIR / "observatory.toml"
        if not path.is_file():
            _fail("no ./observatory.toml and no demo yet: pass --config or run `observatory demo`")
    try:
        return load_config(path)
    except ConfigError as exc:
        _fail(str(exc))
        raise  # unreachable


def _shown(as_json: bool = False) -> contextlib.AbstractContextManager[None]:
    """Show the progress of long work on stderr: live bars when stderr is a terminal, else
    plain lines; with `--json`, always plain lines, so stdout carries nothing but the JSON."""
    return progress.display(sys.stderr, live=False if as_json else None)


def _json(value: object) -> None:
    """Print `value` as the command's JSON output (the schemas: docs/operations.md)."""
    typer.echo(json.dumps(value, indent=2, default=str))


def _report_batches(batches: list[BatchReport]) -> int:
    loaded = [b for b in batches if b.status == "loaded"]
    skipped = [b for b in batches if b.status == "skipped"]
    failed = [b for b in batches if b.status == "failed"]
    for b in loaded:
        typer.echo(
            f"  loaded  {b.source:<22} {Path(b.file).name:<32} read {b.rows_read:>9,}  "
            f"accepted {b.rows_accepted:>9,}  quarantined {b.rows_quarantined:>6,}"
            + (f"  no answer {b.rows_non_response:>6,}" if b.rows_non_response else "")
            + (f"  blank rows {b.rows_blank:,}" if b.rows_blank else "")
        )
    if skipped:
        typer.echo(f"  {len(skipped)} file(s) already ingested: nothing added for them")
    for b in batches:
        if b.status == "waiting":  # not complete yet (docs/operations.md, "Landing files")
            typer.echo(f"  waiting {b.source:<22} {b.error}")
    for b in failed:
        typer.echo(f"  FAILED  {b.source:<22} {b.error}", err=True)
    for b in loaded:
        if b.held:  # loaded but not published (docs/operations.md, "Holds and releases")
            typer.echo(
                f"  HELD    {b.batch_id}: {b.held}. Not published until "
                f"`observatory batches release {b.batch_id}`",
                err=True,
            )
    return 1 if failed else 0


def _guard(func):  # type: ignore[no-untyped-def]
    """Turn expected user-facing errors into one line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return func(*args, **kwargs)
        except (ConfigError, BatchError, FileNotFoundError) as exc:
            _fail(str(exc))
        except duckdb.IOException as exc:
            _fail(f"cannot open the warehouse (is another process writing to it?): {exc}")

    return wrapper


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _zone_summary(cfg: Config) -> None:
    con = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            """
            with latest as (select max(period_start) as p from marts.zone_index)
            select zone_id, zone_name,
                   max(index_value) filter (where time_band = 'day') as day_index,
                   max(index_value) filter (where time_band = 'night') as night_index,
                   max(n_respondents) filter (where time_band = 'night') as n_night
            from marts.zone_index, latest
            where period_start = latest.p
            group by all order by zone_id
            """
        ).fetchall()
        (period,) = con.execute("select max(period_start) from marts.zone_index").fetchall()[0]
    finally:
        con.close()
    typer.echo(
        f"\nZones, latest period {period} (index 0-100, higher = feels safer; '-' = suppressed):"
    )
    typer.echo(f"  {'zone':<6} {'name':<24} {'day':>6} {'night':>6} {'n':>4}")
    for zid, name, day, night, n in rows:
        fmt = lambda v: f"{v:6.1f}" if v is not None else "     -"  # noqa: E731
        typer.echo(f"  {zid:<6} {name[:24]:<24} {fmt(day)} {fmt(night)} {n or 0:>4}")


@app.command()
@_guard
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="where the demo city lives")] = DEMO_DIR,
    scale: Annotated[str, typer.Option(help="small | demo | xl")] = "demo",
    seed: int = 20251,
    network: Annotated[
        bool, typer.Option("--network", help="the 5-city demo network (in var/demo-network)")
    ] = False,
) -> None:
    """Generate the SYNTHETIC demo city, then run the whole pipeline on it."""
    if network:
        from observatory.network.cli import NETWORK_DEMO_DIR, demo_network  # noqa: PLC0415

        where = NETWORK_DEMO_DIR if directory == DEMO_DIR else directory
        raise typer.Exit(demo_network(where, seed))
    from observatory.demo.generator import generate  # noqa: PLC0415
    from observatory.pipeline import run  # noqa: PLC0415
    from observatory.publish import export  # noqa: PLC0415
    from observatory.report import write_report  # noqa: PLC0415

    typer.echo(f"Generating the synthetic demo city ({scale}) in {directory} ...")
    written = generate(directory, scale=scale, seed=seed)
    typer.echo("  rows written: " + ", ".join(f"{k} {v:,}" for k, v in written.items()))
    cfg = load_config(directory / "observatory.toml")
    with _shown():
        report = run(cfg)
    code = _report_batches(report.batches)
    with _shown():
        files = export(cfg)
    _zone_summary(cfg)
    typer.echo(f"\nWarehouse: {cfg.warehouse_path}")
    typer.echo(f"Exports:   {files[0].parent}  ({len(files)} files)")
    typer.echo(f"Report:    {write_report(cfg)}")
    _refresh_docs(cfg)
    typer.echo(f"Done in {report.seconds:.1f} s. All figures are SYNTHETIC.")
    raise typer.Exit(code)


@app.command()
@_guard
def ingest(
    config: ConfigOpt = None,
    source: Annotated[list[str] | None, typer.Option(help="only these sources")] = None,
) -> None:
    """Ingest new landing files: validate, accept or quarantine, record lineage."""
    from observatory.pipeline import ingest as run_ingest  # noqa: PLC0415

    cfg = _config(config)
    with _shown():
        reports = run_ingest(cfg, sources=source)
    raise typer.Exit(_report_batches(reports))


@app.command()
@_guard
def build(
    config: ConfigOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="republish every month, frozen ones too")
    ] = False,
) -> None:
    """Rebuild staging, index and marts from the accepted rows (incremental: closed months
    nobody touched keep their published rows; docs/build-graph.md)."""
    from observatory.pipeline import build as run_build  # noqa: PLC0415

    cfg = _config(config)
    with _shown():
        built = run_build(cfg, full=full)
    typer.echo(f"built {len(built)} models into {cfg.warehouse_path}")


@app.command()
@_guard
def run(
    config: ConfigOpt = None,
    full: Annotated[
        bool, typer.Option("--full", help="build even with nothing new, every month")
    ] = False,
) -> None:
    """Ingest every source, then build: the whole pipeline."""
    from observatory.pipeline import run as run_all  # noqa: PLC0415

    cfg = _config(config)
    with _shown():
        report = run_all(cfg, full=full)
    code = _report_batches(report.batches)
    if report.unchanged_since:
        typer.echo(f"nothing new: build {report.unchanged_since} stands (--full rebuilds)")
        raise typer.Exit(code)
    typer.echo(
        f"built {len(report.built)} models into {cfg.warehouse_path} in {report.seconds:.1f} s"
    )
    _refresh_docs(cfg)
    raise typer.Exit(code)


def _refresh_docs(cfg: Config) -> None:
    """Rebuild Data Docs after a run (~1 s on the small demo); being derived, a failure warns."""
    from observatory.validation.data_docs import build_docs  # noqa: PLC0415

    try:
        typer.echo(f"Data Docs: {build_docs(cfg)}")
    except Exception as exc:  # the run itself succeeded; `observatory docs` can retry
        typer.echo(f"warning: Data Docs not rebuilt ({exc}); run `observatory docs`", err=True)


@app.command()
@_guard
def docs(config: ConfigOpt = None) -> None:
    """Rebuild the GX Data Docs site (latest validation run of every batch) from the warehouse."""
    from observatory.validation.data_docs import build_docs  # noqa: PLC0415

    typer.echo(str(build_docs(_config(config))))


@app.command()
@_guard
def status(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Warehouse path and, per source: batches, rows, freshness, last error."""
    from observatory.status import status as get_status  # noqa: PLC0415

    info = get_status(_config(config))
    if as_json:
        _json(info)
        return
    typer.echo(
        f"city {info['city']}  warehouse {info['warehouse']}"
        + ("" if info["exists"] else " (missing)")
    )
    for s in info["sources"]:
        typer.echo(
            f"  {s['source']:<22} {s['kind']:<9} batches {s['batches_loaded']:>4} "
            f"(failed {s['batches_failed']}, held {s.get('batches_held', 0)})  "
            f"rows {s['rows_read']:>10,}  "
            f"quarantined {s['rows_quarantined']:>7,}  last {s['last_ingested_at'] or '-'}"
        )
        if s["last_error"]:
            typer.echo(f"      last error: {s['last_error']}")
    for f in info.get("latest_failures", [])[:5]:
        check = f"{f['expectation']}({f['column']})"
        typer.echo(f"  failed check: {check} x{f['unexpected_count']} in {f['batch_id']}")
    for w in info.get("waiting_files", []):
        typer.echo(f"  waiting since {w['first_seen_at'][:16]}: {w['reason']}")


@app.command("declare-late")
@_guard
def declare_late(
    source: Annotated[str, typer.Argument(help="the source that will not deliver in time")],
    period: Annotated[str, typer.Option(help="the month, YYYY-MM")],
    reason: Annotated[str | None, typer.Option(help="why (kept in ops.late_sources)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Let a month become final without a late source (its component is then missing)."""
    import datetime as dt  # noqa: PLC0415

    from observatory.warehouse import connect  # noqa: PLC0415

    cfg = _config(config)
    cfg.source(source)  # a clear error for an unknown source
    try:
        month = dt.datetime.strptime(period, "%Y-%m").date()
    except ValueError:
        _fail(f"--period {period!r}: expected a month as YYYY-MM, e.g. 2025-11")
        raise  # unreachable
    with connect(cfg) as con:
        con.execute(
            "insert into ops.late_sources values (?, ?, ?, ?)",
            [source, month, dt.datetime.now(dt.UTC), reason],
        )
    typer.echo(f"{source} declared late for {period}: run `observatory build` to finalise it")


@app.command()
@_guard
def publications(config: ConfigOpt = None) -> None:
    """The builds in marts.publication_log, newest first (what each one published)."""
    from observatory.vintage import publications as list_publications  # noqa: PLC0415
    from observatory.warehouse import connect  # noqa: PLC0415

    with connect(_config(config), read_only=True) as con:
        rows = list_publications(con)
    if not rows:
        typer.echo("no publication yet: run `observatory build`")
    for build_id, published_at, latest in rows:
        typer.echo(f"{build_id}  published {published_at:%Y-%m-%d %H:%M:%S %Z}  latest {latest}")


@app.command("raw-backfill")
@_guard
def raw_backfill(
    drop_old_tables: Annotated[
        bool, typer.Option(help="drop each raw.<source> table once all its batches are archived")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Archive the files of an older warehouse's batches (raw as files: raw.files)."""
    from observatory.archive import backfill  # noqa: PLC0415
    from observatory.warehouse import connect  # noqa: PLC0415

    with connect(_config(config)) as con:
        done = backfill(con, drop_old_tables=drop_old_tables)
    typer.echo(
        f"archived {len(done.from_landing)} batch file(s) from landing and "
        f"{len(done.from_table)} from raw.<source> tables (the rows as read); "
        f"dropped: {', '.join(done.dropped_tables) or 'no table'}"
    )


@app.command()
@_guard
def lineage(
    table: Annotated[
        str | None, typer.Argument(help="a table, e.g. marts.zone_index (default: every mart)")
    ] = None,
    mermaid: Annotated[bool, typer.Option(help="print the graph as a Mermaid diagram")] = False,
) -> None:
    """What each published table is built from: upstream models and source tables."""
    from observatory import graph  # noqa: PLC0415

    order = graph.build_order()
    if mermaid:
        typer.echo("graph LR")
        for model in order:
            for source in sorted(model.inputs - set(model.outputs)):
                typer.echo(
                    f"  {source.replace('.', '_')}[{source}] --> {model.name.replace('.', '_')}"
                )
        return
    tables = [table] if table else [m.name for m in order if m.layer == "marts"]
    known = {t for m in order for t in m.outputs}
    for name in tables:
        if name not in known:
            _fail(f"{name} is not built by any model; models write: {', '.join(sorted(known))}")
        typer.echo(f"{name}")
        for up in graph.upstream(name):
            kind = "model " if up in known else "source"
            typer.echo(f"  {kind} {up}")


@app.command()
@_guard
def contracts(
    write: Annotated[
        bool, typer.Option(help="regenerate the docs and suite checks from the contracts")
    ] = False,
) -> None:
    """Check (or with --write regenerate) what is generated from the contracts.

    The marts' contracts (sql/marts/*.toml) and the source kinds' (sql/sources/*.toml) make
    docs/tables.md, the field table of docs/adding-a-source.md and the not-null checks of
    expectations/<kind>.json; the validated tables' DDL and the conform step's columns are
    read from them at run time.
    """
    from observatory import source_contracts  # noqa: PLC0415

    if write:
        for path, text in source_contracts.generated_files().items():
            if path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                typer.echo(f"wrote {path}")
    problems = source_contracts.drift()
    if problems:
        _fail(
            "these disagree with the contracts in sql/marts/*.toml and sql/sources/*.toml "
            "(`observatory contracts --write` regenerates what it can):\n  "
            + "\n  ".join(problems),
            1,
        )
    typer.echo("docs, suites and validated tables match the contracts")


@app.command()
@_guard
def reproduce(
    build_id: Annotated[str, typer.Argument(help="a build_id from `observatory publications`")],
    config: ConfigOpt = None,
) -> None:
    """Rebuild a past publication from the warehouse (in a scratch copy) and compare it."""
    from observatory.vintage import reproduce as run_reproduce  # noqa: PLC0415

    try:
        result = run_reproduce(_config(config), build_id)
    except KeyError as exc:
        _fail(str(exc.args[0]))
        raise  # unreachable
    for mart, same in result.matches.items():
        typer.echo(f"  {'same' if same else 'DIFFERENT':<9} marts.{mart}")
    carried = sorted({b for builds in result.carried_from.values() for b in builds})
    if carried:  # an incremental build: the rows of its frozen months are those builds'
        typer.echo(
            "  (the rows it wrote were compared; its frozen months' rows were published by "
            f"{', '.join(carried)}: reproduce those to check them)"
        )
    if result.method_version != result.current_method:
        typer.echo(
            f"  (built with method {result.method_version}; this version computes "
            f"{result.current_method}, whose draws differ: reproduce it with a release of "
            f"method {result.method_version}, docs/methodology.md, 'What changed')"
        )
    verdict = "reproduced exactly" if result.exact else "NOT reproduced"
    typer.echo(f"build {build_id} ({result.published_at:%Y-%m-%d %H:%M}): {verdict}")
    raise typer.Exit(0 if result.exact else 1)


@app.command()
@_guard
def export(
    config: ConfigOpt = None,
    directory: Annotated[Path | None, typer.Option("--dir", help="target folder")] = None,
    period: Annotated[
        str | None,
        typer.Option(help="the GeoJSON's month, YYYY-MM (default: latest with perception)"),
    ] = None,
) -> None:
    """Write the marts as Parquet and CSV, and the zones with a month's index as GeoJSON."""
    from observatory.publish import export as run_export  # noqa: PLC0415

    cfg = _config(config)
    try:
        with _shown():
            files = run_export(cfg, directory, period)
    except ValueError as exc:
        _fail(str(exc))
    for f in files:
        typer.echo(str(f))


@app.command()
@_guard
def report(
    config: ConfigOpt = None,
    period: Annotated[
        str | None, typer.Option(help="month to report, YYYY-MM (default: the latest)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="an .html file or a folder (default: exports)")
    ] = None,
) -> None:
    """Write the self-contained HTML report (map, ranking, trends, data quality) of a month."""
    from observatory.report import ReportError, write_report  # noqa: PLC0415

    try:
        path = write_report(_config(config), period=period, target=out)
    except ReportError as exc:
        _fail(str(exc))
        raise  # unreachable
    typer.echo(f"Report: {path}")


@app.command("check-config")
@_guard
def check_config_cmd(
    config: ConfigOpt = None,
    source: Annotated[list[str] | None, typer.Option(help="only these sources")] = None,
    sample: Annotated[int, typer.Option(help="rows to read from each source's first file")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Dry run: how a sample of each source maps, what would be quarantined and why."""
    from observatory.check_config import check_config  # noqa: PLC0415

    if as_json:
        _check_config_json(config, source, sample)
    cfg = _config(config)
    typer.echo(f"config {cfg.base_dir / 'observatory.toml'}: valid; city {cfg.city.id}")
    failed = False
    with _shown():
        checks = check_config(cfg, source, sample)
    for r in checks:
        typer.echo(f"\n[{r.source}] {r.file or '-'}")
        for warning in r.warnings:
            typer.echo(f"  WARNING: {warning}")
        if r.error:
            failed = True
            typer.echo(f"  ERROR: {r.error}")
            continue
        typer.echo(
            f"  {r.rows_sampled:,} rows sampled -> {r.records:,} records: "
            f"{r.accepted:,} would be accepted, "
            f"{r.records - r.accepted - r.non_response:,} quarantined"
        )
        for reason, n in r.quarantined.items():
            typer.echo(f"    {n:>7,}  {reason}")
        if r.non_response:
            typer.echo(f"  {r.non_response:,} item non-response (declared don't-know codes)")
        if r.unmatched:
            typer.echo(f"  no zone for: {', '.join(map(str, r.unmatched))}")
        for hint in r.hints:
            typer.echo(f"  HINT: {hint}")
        for row in r.preview[:3]:
            shown = {k: v for k, v in row.items() if v is not None and not k.startswith("_r")}
            typer.echo(f"  e.g. {shown}")
    raise typer.Exit(1 if failed else 0)


def _check_config_json(config: Path | None, source: list[str] | None, sample: int) -> None:
    """`check-config --json`: the same dry run as one JSON document, also for a bad file."""
    from dataclasses import asdict  # noqa: PLC0415

    from observatory.check_config import check_config  # noqa: PLC0415

    path = config or Path("observatory.toml")
    if config is None and not path.is_file():
        path = DEMO_DIR / "observatory.toml"
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        _json({"config": str(path), "valid": False, "errors": str(exc).splitlines()})
        raise typer.Exit(2) from None
    with _shown(as_json=True):
        checks = [asdict(r) for r in check_config(cfg, source, sample)]
    failed = any(c["error"] for c in checks)
    _json({"config": str(path), "valid": True, "city": cfg.city.id, "sources": checks})
    raise typer.Exit(1 if failed else 0)


batches_app = typer.Typer(
    help="The latest batches; hold, release, supersede or retract one (docs/operations.md).",
    invoke_without_command=True,
)
app.add_typer(batches_app, name="batches")


@batches_app.callback()
@_guard
def batches(
    ctx: typer.Context,
    config: ConfigOpt = None,
    source: Annotated[str | None, typer.Option(help="only this source")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The latest batches: what each landing file became (loaded, failed, superseded...)."""
    from observatory.status import batches as list_batches  # noqa: PLC0415

    if ctx.invoked_subcommand is not None:
        return
    rows = list_batches(_config(config), source, limit)
    if as_json:
        _json(rows)
        return
    if not rows:
        typer.echo("no batches yet: run `observatory ingest`")
    for b in rows:
        counts = f"read {b['rows_read'] or 0:>9,}  quarantined {b['rows_quarantined'] or 0:>6,}"
        when = f"{b['started_at']:%Y-%m-%d %H:%M}"
        typer.echo(f"  {when}  {b['status']:<10} {b['batch_id']}  {counts}")
        if b["error"]:
            typer.echo(f"      error: {b['error']}")
        if b["withdraw_reason"]:  # superseded or retracted (docs/operations.md)
            typer.echo(f"      {b['status']}: {b['withdraw_reason']}")
        if b["supersedes"]:
            typer.echo(f"      supersedes {b['supersedes']}")


@batches_app.command("held")
@_guard
def batches_held(
    config: ConfigOpt = None,
    include_released: Annotated[
        bool, typer.Option("--all", help="also the holds already released")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Batches held back from publication (too much of them quarantined), and why."""
    from observatory.ops.holds import held  # noqa: PLC0415

    rows = held(_config(config), include_released=include_released)
    if as_json:
        _json(rows)
        return
    if not rows:
        typer.echo("no batch is held")
    for h in rows:
        state = (
            f"released {h['released_at']:%Y-%m-%d %H:%M} by {h['released_by']}"
            if h["released_at"]
            else f"held since {h['held_at']:%Y-%m-%d %H:%M}"
        )
        typer.echo(f"  {h['batch_id']}  {state}  periods {', '.join(h['periods']) or '-'}")
        typer.echo(f"      {h['file_path']}: {h['reason']}")
        if h["note"]:
            typer.echo(f"      note: {h['note']}")


@batches_app.command("release")
@_guard
def batches_release(
    batch_id: Annotated[str, typer.Argument(help="the held batch (`observatory batches held`)")],
    config: ConfigOpt = None,
    note: Annotated[str | None, typer.Option(help="why it may be published")] = None,
) -> None:
    """Release a held batch: the next `observatory build` publishes its periods."""
    from observatory.ops.holds import release  # noqa: PLC0415

    done = release(_config(config), batch_id, note=note)
    if done["already_released"]:
        typer.echo(
            f"{batch_id} was already released at {done['released_at']:%Y-%m-%d %H:%M} "
            f"by {done['released_by']}"
        )
        return
    typer.echo(
        f"released {batch_id} ({done['source_name']}) by {done['released_by']}. "
        "Run `observatory build` to publish its periods."
    )


@batches_app.command("supersede")
@_guard
def batches_supersede(
    batch_id: Annotated[str, typer.Argument(help="the loaded batch a corrected file replaces")],
    file: Annotated[
        Path | None, typer.Option("--file", help="the corrected file (default: the batch's path)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Replace a batch with its corrected file: the old rows are withdrawn, the file loaded
    as a new batch that supersedes it."""
    from observatory.corrections import supersede  # noqa: PLC0415

    with _shown():
        old, new = supersede(_config(config), batch_id, file)
    typer.echo(
        f"{batch_id} superseded by {new.batch_id}: {old.rows_validated:,} row(s) withdrawn, "
        f"{new.rows_accepted:,} accepted, {new.rows_quarantined:,} quarantined. "
        "Run `observatory build` to update the marts."
    )


@batches_app.command("retract")
@_guard
def batches_retract(
    batch_id: Annotated[str, typer.Argument(help="the loaded batch to withdraw")],
    reason: Annotated[str, typer.Option(help="why (kept in ops.batches)")],
    config: ConfigOpt = None,
) -> None:
    """Withdraw a batch: its rows leave validated, its quarantine is closed."""
    from observatory.corrections import retract  # noqa: PLC0415

    w = retract(_config(config), batch_id, reason)
    typer.echo(
        f"{batch_id} retracted: {w.rows_validated + w.rows_non_response:,} row(s) withdrawn, "
        f"{w.quarantine_closed:,} quarantine row(s) closed. "
        "Run `observatory build` to update the marts."
    )


@app.command()
@_guard
def erase(
    source: Annotated[str, typer.Option(help="the source holding the person's rows")],
    respondent: Annotated[str | None, typer.Option(help="the respondent id")] = None,
    record: Annotated[str | None, typer.Option(help="or one record id")] = None,
    config: ConfigOpt = None,
) -> None:
    """Erase a respondent's rows from raw, quarantine and validated, then rebuild."""
    from observatory.corrections import erase as run_erase  # noqa: PLC0415

    with _shown():
        done = run_erase(_config(config), source, respondent=respondent, record=record)
    typer.echo(
        f"erased {done.rows_validated:,} validated, {done.rows_quarantined:,} quarantined and "
        f"{done.rows_raw:,} raw row(s) in {done.batches} batch(es) of {done.source}; "
        "logged in ops.erasures (counts and a hash only); marts rebuilt"
    )


@app.command("new-city")
@_guard
def new_city_cmd(
    directory: Annotated[Path, typer.Argument(help="folder for the new project")],
    *,
    city_id: Annotated[str, typer.Option("--id", help="lowercase identifier")],
    name: Annotated[str, typer.Option(help="display name")],
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Riga")],
    latitude: Annotated[float, typer.Option(help="city centre latitude")],
    longitude: Annotated[float, typer.Option(help="city centre longitude")],
) -> None:
    """Scaffold a project file and landing folders for a new city."""
    from observatory.scaffold import new_city  # noqa: PLC0415

    path = new_city(
        directory,
        city_id=city_id,
        name=name,
        timezone=timezone,
        latitude=latitude,
        longitude=longitude,
    )
    load_config(path)  # the scaffold must itself be valid
    typer.echo(f"wrote {path}; next: zones into {directory / 'landing' / 'zones'}, then new-source")


@app.command("new-source")
@_guard
def new_source_cmd(
    name: Annotated[str, typer.Argument(help="lowercase source name")],
    kind: Annotated[str, typer.Option(help="survey | incidents | sensors")],
    config: ConfigOpt = None,
) -> None:
    """Append a commented source block for a kind to the project file."""
    from observatory.scaffold import new_source  # noqa: PLC0415

    path = config or Path("observatory.toml")
    new_source(path, name, kind)
    typer.echo(f"added source {name!r} ({kind}) to {path}; edit its columns, then check-config")


@app.command()
@_guard
def bench(
    *,
    directory: Annotated[Path, typer.Option("--dir", help="where workloads are kept")] = Path(
        "var/bench"
    ),
    scale: Annotated[str, typer.Option(help="xl (the benchmark) or small (a smoke run)")] = "xl",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    phase: Annotated[
        list[str] | None,
        typer.Option("--phase", help="only these phases (a-e, repeatable); c reuses b's warehouse"),
    ] = None,
    workload: Annotated[
        str | None,
        typer.Option(help="5y: five years of the 200 zones, phase b only (the memory run)"),
    ] = None,
    five_years: Annotated[
        bool,
        typer.Option(
            "--five-years/--no-five-years",
            help="phase f: the 5-year memory run after a-e (xl only; ~10 min more)",
        ),
    ] = True,
) -> None:
    """City-scale benchmark: DuckDB-only floor, full pipeline, one-day increment, pandas+GX."""
    from observatory.bench import WARM_PHASE, WORKLOADS, run_bench, run_phases  # noqa: PLC0415

    if workload or phase:
        if workload and workload not in WORKLOADS:
            raise typer.BadParameter(f"--workload is one of {sorted(WORKLOADS)}")
        letters = phase or (["b"] if workload == "5y" else list("abcde"))
        if workload == "5y" and set(letters) - {"b"}:
            raise typer.BadParameter("the 5y workload runs phase b only (the memory run)")
        with _shown(as_json):
            figures = run_phases(directory, WORKLOADS[workload or scale], letters)
        if as_json:
            _json(figures)
            return
        for p in figures["phases"]:  # type: ignore[union-attr]
            typer.echo(f"{p['name']:<28} {p['seconds']:>9.2f} s {p['peak_rss_mb']:>9,.0f} MB")
        return
    with _shown(as_json):
        figures = run_bench(directory, scale=scale, five_years=five_years)
    if as_json:
        _json(figures)
        return
    typer.echo(f"{'phase':<28} {'seconds':>9} {'rows':>12} {'rows/s':>11} {'peak RSS MB':>12}")
    for p in figures["phases"]:  # type: ignore[union-attr]
        typer.echo(
            f"{p['name']:<28} {p['seconds']:>9.2f} {p['rows']:>12,} "
            f"{p['rows_per_second']:>11,} {p['peak_rss_mb']:>12,.0f}"
        )
    by_name = {p["name"]: p["seconds"] for p in figures["phases"]}  # type: ignore[union-attr]
    _echo_profile("b", figures["profile_b"], by_name["b_pipeline_full"])  # type: ignore[arg-type]
    if figures.get("profile_c"):
        _echo_profile("c", figures["profile_c"], by_name["c_incremental_one_day"])  # type: ignore[arg-type]
    if figures.get("profile_c_warm"):
        _echo_profile("c in a warm worker", figures["profile_c_warm"], by_name[WARM_PHASE])  # type: ignore[arg-type]
    typer.echo(
        f"ingest only = {figures['ingest_seconds']} s, {figures['ratio_ingest_over_a']}x the "
        "floor (target <= 3)"
    )
    typer.echo(
        f"b/a = {figures['ratio_b_over_a']} (target <= 4, moonshot 2)   "
        f"d/b = {figures['ratio_d_over_b']} (target >= 4)   "
        f"growth 2x = {figures['growth_full_over_half']} (target <= 2.2)\n"
        f"incremental one day = {figures['incremental_warm_seconds']} s in a warm worker "
        f"(target <= 5), {figures['incremental_seconds']} s in a fresh process (its imports "
        f"alone {figures.get('incremental_imports_seconds', '?')} s)\n"
        f"pipeline peak RSS = {figures['peak_rss_mb_pipeline']} MB (target <= 1024)"
    )
    if "peak_rss_mb_five_years" in figures:
        typer.echo(
            f"five-year pipeline peak RSS = {figures['peak_rss_mb_five_years']} MB (target <= 1024)"
        )


def _echo_profile(phase: str, profile: dict[str, Any], seconds: float) -> None:
    """Where a phase's time went (bench.py `_profile`): its batches, build steps, the rest."""
    typer.echo(f"where ({phase})'s time went (ops.batches, ops.build_steps):")
    for p in profile["ingest"]:
        typer.echo(
            f"  ingest {p['source']:<22} {p['batches']:>3} batches {p['rows']:>12,} rows "
            f"{p['seconds']:>8.2f} s"
        )
    build_total = sum(s["seconds"] for s in profile["build_steps"])
    top = ", ".join(f"{s['step']} {s['seconds']:.2f}" for s in profile["build_steps"][:5])
    typer.echo(f"  build {build_total:.2f} s; largest steps: {top}")
    for source, steps in profile.get("per_batch_steps", {}).items():
        shown = ", ".join(f"{step} {sec:.2f}" for step, sec in steps.items())
        typer.echo(f"  per batch of {source}: {shown} s (ops.batch_steps)")
    ingest_total = sum(p["seconds"] for p in profile["ingest"])
    typer.echo(
        f"  other {seconds - ingest_total - build_total:.2f} s (interpreter and imports, "
        "batch commits, zones, sensor locations, work tables, build commit, closing)"
    )


@app.command("validate-method")
@_guard
def validate_method(
    *,
    scenario: Annotated[
        list[str] | None, typer.Option(help="only this scenario (repeatable; default: all)")
    ] = None,
    replicates: Annotated[
        int | None, typer.Option(min=1, help="replicates per scenario (default 10, quick 2)")
    ] = None,
    quick: Annotated[
        bool, typer.Option(help="smaller cities and fewer replicates, for CI")
    ] = False,
    directory: Annotated[Path, typer.Option("--dir", help="where the warehouses go")] = Path(
        "var/validate-method"
    ),
    as_json: Annotated[bool, typer.Option("--json")] = False,
    strict: Annotated[bool, typer.Option(help="exit 1 if any figure misses")] = False,
) -> None:
    """Simulate cities with a known truth through the pipeline; print the method's figures."""
    from observatory.evaluate import report, runner, scenarios  # noqa: PLC0415

    try:
        chosen = scenarios.select(scenario, quick_run=quick)
    except ValueError as exc:
        _fail(str(exc))
        raise  # unreachable
    default = scenarios.QUICK_REPLICATES if quick else scenarios.REPLICATES
    index_log = logging.getLogger("observatory.index")
    level = index_log.level
    if not logging.getLogger().isEnabledFor(logging.INFO):
        # every simulated city repeats the same expected warnings (no sensors, no modelling)
        index_log.setLevel(logging.ERROR)
    total = len(chosen) * (replicates or default)
    try:
        with _shown(as_json), progress.task("validate-method", total, "replicates") as bar:
            results = runner.run_scenarios(
                chosen,
                replicates or default,
                directory,
                progress=lambda line: bar.advance(1, item=line),
            )
    finally:
        index_log.setLevel(level)
    if as_json:
        _json(report.as_json(results, quick))
    else:
        typer.echo(report.table(results, quick))
    raise typer.Exit(1 if strict and report.misses(results) else 0)


@app.command("validate-interventions")
@_guard
def validate_interventions(
    *,
    quick: Annotated[bool, typer.Option(help="the small demo city (6 months), for CI")] = False,
    placebos: Annotated[int, typer.Option(min=10, help="placebo interventions")] = 200,
    directory: Annotated[Path, typer.Option("--dir", help="where the demo city goes")] = Path(
        "var/validate-interventions"
    ),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Placebo interventions and the demo's planted ones: false alarms, coverage, MDE."""
    import datetime as dt  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    from observatory.demo.generator import generate  # noqa: PLC0415
    from observatory.interventions import placebo  # noqa: PLC0415
    from observatory.pipeline import run  # noqa: PLC0415

    started = dt.datetime.now(dt.UTC)
    scale = "small" if quick else "demo"
    root = directory / scale
    if root.exists():
        shutil.rmtree(root)
    generate(root, scale=scale)
    cfg = load_config(root / "observatory.toml")
    with _shown(as_json):
        run(cfg)
    result = placebo.validate(cfg, placebos, cfg.index.seed)
    if as_json:
        _json(result.as_dict())
    else:
        typer.echo(placebo.table(result, scale, started))


quarantine_app = typer.Typer(help="Inspect quarantined rows and release them after a fix.")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(network_app, name="network")


@quarantine_app.command("list")
@_guard
def quarantine_list(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Open quarantine per source and reason."""
    from observatory.release import summary  # noqa: PLC0415

    rows = summary(_config(config))
    if as_json:
        _json(rows)
        return
    if not rows:
        typer.echo("quarantine is empty")
    for r in rows:
        where = f"{r['rows']:>7,} rows in {r['batches']:>3} batch(es)"
        typer.echo(f"  {r['source']:<22} {where}  {r['reason']}")


@quarantine_app.command("show")
@_guard
def quarantine_show(
    config: ConfigOpt = None,
    source: Annotated[str | None, typer.Option(help="only this source")] = None,
    batch: Annotated[str | None, typer.Option(help="only this batch id")] = None,
    reason: Annotated[str | None, typer.Option(help="reason contains this text")] = None,
    limit: int = 20,
) -> None:
    """Quarantined rows as read, with their reasons."""
    from observatory.release import show as show_rows  # noqa: PLC0415

    for r in show_rows(_config(config), source, batch, reason, limit):
        typer.echo(f"{r['batch_id']} row {r['row_number']}: {r['reason']}")
        typer.echo(f"    {r['raw_row']}")


@quarantine_app.command("release")
@_guard
def quarantine_release(
    source: Annotated[str, typer.Argument(help="the source whose rows to release")],
    config: ConfigOpt = None,
    batch: Annotated[str | None, typer.Option(help="only this batch id")] = None,
    reason: Annotated[str | None, typer.Option(help="reason contains this text")] = None,
) -> None:
    """Re-process open quarantined rows through the current mapping and suite."""
    from observatory.release import release as run_release  # noqa: PLC0415

    report = run_release(_config(config), source, batch, reason)
    if report.status == "skipped":
        typer.echo("nothing to release")
        return
    typer.echo(
        f"released {report.rows_read:,} record(s) as batch {report.batch_id}: "
        f"{report.rows_accepted:,} accepted, {report.rows_quarantined:,} still quarantined. "
        "Run `observatory build` to update the marts."
    )


def main() -> None:
    """Console entry point.

    Exits with `os._exit` after flushing: with great_expectations and duckdb_engine both
    imported, DuckDB 2.0's nanobind bindings print dozens of 'leaked instance' lines at
    interpreter teardown (harmless, exit code unaffected), which would bury the output.
    """
    code = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # an unexpected error: show it, then exit non-zero
        traceback.print_exc()
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
