"""Ingestion: landing files -> raw -> validated, or quarantine with reasons.

One file is one batch, identified by the source and the file's SHA-256, so re-ingesting
the same bytes adds nothing. Each batch is read with DuckDB's readers into a work table
(in an in-memory database attached beside the warehouse: `WORK_CATALOG`),
conformed by the source's compiled mapping, given its zone, validated by its GX suite
(every expectation's metrics in one query: `gx_engine.validate_table_single_pass`), its
file archived as it came under its hash (the raw layer: `observatory.archive`, listed in
`raw.files`), and then, in a single transaction, appended to `validated.<kind>` (accepted
rows, with their batch and row number in the file) and `quarantine.<kind>` (rows with
reasons), with its bookkeeping in `ops.*` (`ops.batch_steps`: where its time went). A
survey row whose answer is a declared non-response code ("don't know") is its own outcome,
kept in `validated.survey_non_response`. The invariant rows read = accepted + non-response
+ quarantined is checked inside that transaction; a failure anywhere leaves no partial
batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from observatory import archive, corrections, progress
from observatory.config import Config, SourceConfig, respondent_warning
from observatory.ops import holds
from observatory.sources import landing, mapping
from observatory.sources.crosswalk import write_sensor_aliases
from observatory.sources.fetchers import get_fetcher
from observatory.sources.readers import (
    BatchError,
    blank_rows,
    drop_batch_table,
    duckdb_message,
    load_file,
)
from observatory.sources.zoning import conform_with_zone, repeated_table
from observatory.validation import data_docs, gx_engine
from observatory.validation.quarantine import flag_sql, row_checks
from observatory.validation.suites import load_suite, suite_parameters
from observatory.warehouse import columns_of, table_exists, transaction
from observatory.zones import Zones, assign_table

log = logging.getLogger(__name__)

#: What a non-response row keeps: who was asked what, where and when (no answer to keep).
NON_RESPONSE_COLUMNS = (
    "record_id, response_id, respondent_id, zone_id, item_id, time_band, surveyed_at, "
    "respondent_groups"
)


@dataclass
class BatchReport:
    """What happened to one file."""

    source: str
    file: str
    batch_id: str
    status: str  # loaded | skipped | failed | waiting (not complete yet: see sources.landing)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_non_response: int = 0
    #: rows of only delimiters or spaces: read and counted, not records (ops.batches)
    rows_blank: int = 0
    error: str | None = None
    seconds: float = 0.0
    #: Why the batch is held (write-audit-publish, observatory.ops.holds), if it is.
    held: str | None = None


@dataclass
class IngestReport:
    """What happened to every file of a run."""

    batches: list[BatchReport] = field(default_factory=list)

    @property
    def failed(self) -> list[BatchReport]:
        """Batches that could not be ingested."""
        return [b for b in self.batches if b.status == "failed"]


def _clock() -> tuple[float, float]:
    """Wall and CPU time now (the process's CPU, DuckDB's threads included, and that of
    the child processes it waited for: the archive's zstd)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), time.process_time() + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class _Batch:
    """Identity of one file being ingested."""

    src: SourceConfig
    path: Path
    digest: str
    started_at: dt.datetime
    label: str = ""
    #: seconds per step of the batch, wall and CPU (ops.batch_steps)
    timings: dict[str, float] = field(default_factory=dict, compare=False, hash=False)
    cpu: dict[str, float] = field(default_factory=dict, compare=False, hash=False)

    def timed(self, step: str, started: tuple[float, float]) -> None:
        """Add the wall and CPU seconds since `started` (a `_clock()` reading) to `step`."""
        wall, cpu = _clock()
        self.timings[step] = self.timings.get(step, 0.0) + wall - started[0]
        self.cpu[step] = self.cpu.get(step, 0.0) + cpu - started[1]

    @property
    def batch_id(self) -> str:
        """`<source>:<first 16 hex of the file's SHA-256>` (a release adds `release-`)."""
        return f"{self.src.name}:{self.label}{self.digest[:16]}"

    def table(self, prefix: str) -> str:
        """A work table private to this batch (in the in-memory `WORK_CATALOG`)."""
        return f"{WORK_CATALOG}.{prefix}_{self.digest[:16]}"


#: The in-memory database a batch's work tables live in (attached by `attach_work_catalog`).
#: They are dropped with the batch, so nothing there needs the warehouse file: written to
#: memory, uncompressed, a sensor month's text and conformed tables cost a third of the CPU
#: they cost on disk (DuckDB spills them to its temporary folder past `memory_limit`).
WORK_CATALOG = "ingest_work"


def attach_work_catalog(con: duckdb.DuckDBPyConnection) -> None:
    """Attach the in-memory `WORK_CATALOG` to `con`'s database, unless it is there."""
    (attached,) = con.execute(
        "select count(*) from duckdb_databases() where database_name = ?", [WORK_CATALOG]
    ).fetchone()
    if not attached:
        con.execute(f"attach ':memory:' as {WORK_CATALOG}")


def file_hash(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def landing_files(cfg: Config, src: SourceConfig) -> list[Path]:
    """Files matching a source's glob, sorted (so batches load in a stable order), without
    the source's marker files (`observatory.sources.landing`)."""
    return landing.landing_files(cfg, src)


#: Batches whose bytes are not read again: loaded, or withdrawn (observatory.corrections).
_SEEN = "('loaded', 'retracted', 'superseded')"


def _already_loaded(con: duckdb.DuckDBPyConnection, batch_id: str) -> bool:
    row = con.execute(
        f"select count(*) from ops.batches where batch_id = ? and status in {_SEEN}",  # noqa: S608 (status list a constant; batch id bound)
        [batch_id],
    ).fetchall()[0]
    return bool(row and row[0])


def refresh_sensor_locations(
    con: duckdb.DuckDBPyConnection, cfg: Config, src: SourceConfig, zones: Zones
) -> int:
    """Replace this source's rows of `ref.sensor_locations`, each sensor with its zone."""
    loc = src.locations
    if loc is None:
        raise BatchError(f"source '{src.name}': a sensors source needs [sources.locations]")
    path = cfg.resolve(loc.path)
    if not path.is_file():
        raise BatchError(f"{path}: sensor locations file not found (source '{src.name}')")
    load_file(con, loc.format, path, loc.read, "work.sensor_locations_raw")
    present = columns_of(con, "work.sensor_locations_raw")
    missing = [c for c in (loc.sensor_id, loc.latitude, loc.longitude) if c not in present]
    if missing:
        raise BatchError(f"{path}: missing column(s) {missing}; the file has {present}")
    q = mapping.quote_ident
    con.execute(
        f"""
        create or replace table work.sensor_locations as
        select distinct on (sensor_id) * from (
            select
                trim({q(loc.sensor_id)}) as sensor_id,
                try_cast({q(loc.latitude)} as double) as latitude,
                try_cast({q(loc.longitude)} as double) as longitude
            from work.sensor_locations_raw
        ) where sensor_id is not null and sensor_id <> ''
        order by sensor_id
        """  # noqa: S608 (location columns quoted; work tables from code)
    )
    drop_batch_table(con, "work.sensor_locations_raw")
    write_sensor_aliases(con, src)
    lookup = assign_table(con, zones, "work.sensor_locations", "longitude", "latitude")
    con.execute(
        """
        create table if not exists ref.sensor_locations (
            source_name varchar, sensor_id varchar, latitude double, longitude double,
            zone_id varchar
        )
        """
    )
    with transaction(con):
        con.execute("delete from ref.sensor_locations where source_name = ?", [src.name])
        con.execute(
            f"""
            insert into ref.sensor_locations
            select ?, l.sensor_id, l.latitude, l.longitude, z.zone_id
            from work.sensor_locations as l
            left join {lookup} as z on z.lon = l.longitude and z.lat = l.latitude
            """,  # noqa: S608 (lookup a work table named in code; values bound)
            [src.name],
        )
    # the work tables hold nothing that is not in ref.sensor_locations now
    con.execute(f"drop table if exists {lookup}")
    con.execute("drop table if exists work.sensor_locations")
    (n,) = con.execute(
        "select count(*) from ref.sensor_locations where source_name = ?", [src.name]
    ).fetchall()[0]
    return int(n)


def _append(con: duckdb.DuckDBPyConnection, target: str, select_sql: str) -> None:
    """Append rows by column name, creating the table on first use and widening it when a
    later file brings new columns."""
    schema, table = target.split(".")
    described = [(name, typ) for name, typ, *_ in con.execute(f"describe {select_sql}").fetchall()]
    if not table_exists(con, schema, table):
        # Explicit DDL, not `create table ... as select ... limit 0`: in DuckDB 2.0.0 such a
        # table keeps the statistics of the empty select, and later string filters on it
        # silently return no rows (found by the read = accepted + quarantined check).
        cols = ", ".join(f"{mapping.quote_ident(n)} {t}" for n, t in described)
        con.execute(f"create table {target} ({cols})")
    existing = set(columns_of(con, target))
    for name, typ in described:
        if name not in existing:
            con.execute(f"alter table {target} add column {mapping.quote_ident(name)} {typ}")
    con.execute(f"insert into {target} by name {select_sql}")


def validate_batch(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    batch: _Batch,
    zones: Zones,
    now: dt.datetime,
) -> tuple[dict, list[gx_engine.ExpectationOutcome]]:
    """Conform the raw batch table, assign zones, validate it with GX and flag failing rows.

    Reads `batch.table("b")`; leaves the conformed, zoned batch in `batch.table("z")` and
    its failing rows in `batch.table("f")` (`_zrow`, the row's rowid in z, `_row_number`,
    `record_id`, `_failed` and `_reasons`); the rows of z not in f are accepted.

    Raises:
        BatchError: an error-severity table-level expectation failed (the whole batch fails).
    """
    src = batch.src
    attach_work_catalog(con)
    b, c, z, f = (batch.table(p) for p in ("b", "c", "z", "f"))
    step = _clock()
    conform = mapping.compile_conform(src, b, cfg.city.timezone, columns_of(con, b))
    if src.kind == "sensors":
        # Zones come from a join with the sensor locations: no need to materialise the
        # conformed rows first (for the largest feeds, one pass over the data fewer).
        conform_with_zone(con, src, zones, f"({conform})", z, city_tz=cfg.city.timezone)
    else:
        con.execute(f"create or replace table {c} as {conform}")
        conform_with_zone(con, src, zones, c, z, city_tz=cfg.city.timezone)
    batch.timed("conform", step)
    step = _clock()
    suite = load_suite(src, suite_parameters(src, zones.extent, now), cfg)
    outcomes = gx_engine.validate_table_single_pass(
        con, z, suite, repeated={"record_id": repeated_table(z)}
    )
    batch.timed("validate", step)
    reasons = {i: e.get("meta", {}).get("reason", "") for i, e in enumerate(suite["expectations"])}
    checks, batch_failures = row_checks(outcomes, reasons)
    if batch_failures:
        names = ", ".join(o.expectation_type for o in batch_failures)
        raise BatchError(f"{batch.path}: the batch as a whole fails {names}")
    # Only the failing rows are written (with z's rowid): the accepted ones are read from z
    # at commit, so the largest batches are not copied once more just to carry empty flags.
    step = _clock()
    con.execute(
        f"create or replace table {f} as select _zrow, _row_number, record_id, _failed, "  # noqa: S608 (work tables named by digest; checks compiled with quote_ident/literal())
        f"_reasons from ({flag_sql(f'(select rowid as _zrow, * from {z})', checks)}) "  # noqa: S608 (work table named by digest)
        "where len(_reasons) > 0"
    )
    batch.timed("flag", step)
    return suite, outcomes


def drop_work_tables(con: duckdb.DuckDBPyConnection, batch: _Batch) -> None:
    """Remove a batch's work tables (they hold nothing that is not elsewhere)."""
    c = batch.table("c")
    drop_batch_table(con, batch.table("b"))
    z = batch.table("z")
    for table in (z, repeated_table(z), batch.table("f"), c, f"{c}_zones", f"{c}_lonlat"):
        con.execute(f"drop table if exists {table}")
    con.execute(f"drop table if exists {c}_ll")
    con.execute(f"drop table if exists {c}_ll_zones")


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    src: SourceConfig,
    path: Path,
    zones: Zones,
    *,
    now: dt.datetime,
) -> BatchReport:
    """Ingest one landing file as one batch (see the module docstring)."""
    started = time.perf_counter()
    if _unchanged_since_loaded(con, src, path):
        return BatchReport(src.name, str(path), "-", "skipped")
    waiting = landing.waiting_reason(src, path)
    if waiting:  # not complete yet: neither loaded nor failed, looked at again next run
        log.info("file waiting: %s", waiting)
        return BatchReport(src.name, str(path), "-", "waiting", error=waiting)
    before = landing.FileState.of(path)
    started_at = dt.datetime.now(dt.UTC)  # ops.batches times the batch from here: hashing too
    batch = _Batch(src, path, file_hash(path), started_at)
    report = BatchReport(src.name, str(path), batch.batch_id, "skipped")
    if _already_loaded(con, batch.batch_id):
        return report
    changed, done = _changed_file(con, cfg, batch, zones, report, now=now)
    if done is not None:
        return done
    b = batch.table("b")
    attach_work_catalog(con)
    # the file is compressed into the archive (a child process) while DuckDB works on it
    pending = archive.start(archive.archive_root(con), src.name, path, batch.digest)
    try:
        step = _clock()
        rows_in_file = load_file(con, src.format, path, src.read, b)
        batch.timed("read", step)
        # an append-only file that grew: only its new rows (`rows_through` marks the end)
        through, skipped = corrections.skip_loaded_rows(con, b, changed.offset if changed else 0)
        rows_in_file -= skipped
        landing.check_unchanged(path, before)  # a file still being copied is not read
        report.rows_blank = blank_rows(con, b)
        mapping.check_columns(src, columns_of(con, b), str(path))
        suite, outcomes = validate_batch(con, cfg, batch, zones, now)
        _commit_batch(
            con,
            batch,
            rows_in_file,
            suite,
            outcomes,
            hold_limit=holds.max_share(cfg, src),
            rows_blank=report.rows_blank,
            pending=pending,
        )
        corrections.record_rows_through(con, batch.batch_id, through)
    except landing.FileStillChanging as exc:
        report.status, report.error = "waiting", str(exc)
        log.info("file waiting: %s", report.error)
    except (BatchError, duckdb.Error) as exc:
        # the whole cause, not only DuckDB's first line ("CSV Error on Line: 2")
        error = str(exc) if isinstance(exc, BatchError) else duckdb_message(exc)
        report.status, report.error = "failed", error
        _record_failure(con, batch, report.error)
        log.error("batch failed: %s", report.error)
    finally:
        pending.cancel()  # a batch that failed before its commit: no archive file left
        drop_work_tables(con, batch)
    if report.status not in ("failed", "waiting"):
        row = con.execute(
            "select rows_read, rows_accepted, rows_quarantined, coalesce(rows_non_response, 0) "
            "from ops.batches where batch_id = ?",
            [batch.batch_id],
        ).fetchall()[0]
        report.status = "loaded"
        report.rows_read, report.rows_accepted, report.rows_quarantined = (int(x) for x in row[:3])
        report.rows_non_response = int(row[3])
        report.held = holds.open_hold(con, batch.batch_id)
    report.seconds = time.perf_counter() - started
    return report


def _changed_file(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    batch: _Batch,
    zones: Zones,
    report: BatchReport,
    *,
    now: dt.datetime,
) -> tuple[corrections.ChangedFile | None, BatchReport | None]:
    """A file loaded before under this path with other bytes (observatory.corrections):
    an append to read from its first new row, a correction to supersede the old batch with
    (`corrections = "replace"`), or one to report; never duplicates of itself. Returns the
    change and, when the batch is settled here, its report."""
    changed = corrections.changed_file(con, batch.src, batch.path, batch.digest)
    if changed is None or changed.action == "append":
        return changed, None
    if changed.action == "replace":
        try:
            done = corrections.supersede_with(
                con, cfg, changed.previous, batch.path, zones, now=now
            )
            return changed, done[1]  # type: ignore[return-value]
        except BatchError as exc:  # the correction did not load: the old batch stays
            report.status, report.error = "failed", str(exc)
    else:
        report.status, report.error = "failed", changed.message
        _record_failure(con, batch, changed.message)
    log.error("batch failed: %s", report.error)
    return changed, report


def _commit_batch(
    con: duckdb.DuckDBPyConnection,
    batch: _Batch,
    rows_in_file: int,
    suite: dict,
    outcomes: list[gx_engine.ExpectationOutcome],
    *,
    append_raw: bool = True,
    also: Callable[[], None] | None = None,
    hold_limit: float | None = None,
    rows_blank: int = 0,
    pending: archive.PendingArchive | None = None,
) -> None:
    """Archive the file (the raw layer), append accepted and quarantined rows and the
    bookkeeping, all or nothing (an archived file whose batch rolls back stays unlisted in
    `raw.files`, and is reused when the same bytes come again).

    `pending`: the file's archiving, started with the batch (`archive.start`); it is
    waited for here, before the transaction that lists it.

    `also` runs inside the same transaction (the quarantine release marks its originals).
    A batch quarantining more than `hold_limit` of its rows is held in that transaction too
    (`observatory.ops.holds`).
    """
    src, path, digest, batch_id = batch.src, batch.path, batch.digest, batch.batch_id
    flagged, zoned, batch_table = batch.table("f"), batch.table("z"), batch.table("b")
    started_at = batch.started_at
    lit = mapping.literal
    kind = src.kind
    canon = ", ".join(mapping.quote_ident(col) for col in mapping.CONFORMED_COLUMNS[kind])
    now = dt.datetime.now(dt.UTC)
    run_id = f"{batch_id}:{now.strftime('%Y%m%dT%H%M%S%f')}"
    failed = sum(1 for o in outcomes if not o.success)
    gx_result = data_docs.result_json(
        suite, outcomes, run_id=run_id, batch_id=batch_id, source_name=src.name, validated_at=now
    )
    stored = None
    if append_raw:
        step = _clock()
        if pending is None:
            pending = archive.start(archive.archive_root(con), src.name, path, digest)
        stored = pending.finish()
        batch.timed("archive", step)
    step = _clock()
    with transaction(con):
        if also:
            also()
        if stored is not None:
            archive.record(
                con,
                source_name=src.name,
                path=path,
                digest=digest,
                stored=stored,
                rows=rows_in_file,
                batch_id=batch_id,
                archived_at=now,
            )
        passed = f"not exists (select 1 from {flagged} as f where f._zrow = z.rowid)"  # noqa: S608 (work tables named by digest)
        answered = " and not z.is_non_response" if kind == "survey" else ""
        _append(
            con,
            f"validated.{kind}",
            f"select {lit(src.name)} as source_name, {lit(batch_id)} as batch_id, "  # noqa: S608 (kind a Literal; name and batch escaped by literal(); columns from code)
            f"_row_number as row_number, {canon}, zone_id from {zoned} as z "
            f"where {passed}{answered}",
        )
        if kind == "survey":
            _append(
                con,
                "validated.survey_non_response",
                f"select {lit(src.name)} as source_name, {lit(batch_id)} as batch_id, "  # noqa: S608 (name and batch escaped by literal(); columns from code)
                f"_row_number as row_number, {NON_RESPONSE_COLUMNS} from {zoned} as z "
                f"where {passed} and z.is_non_response",
            )
        con.execute(
            f"""
            insert into quarantine.{kind}
            select ?, ?, f._row_number, f.record_id, r.raw_row, f._failed,
                   array_to_string(f._reasons, '; '), ?, null, null
            from {flagged} as f
            join ({_raw_rows_sql(con, batch_table, flagged, src)}) as r using (_row_number)
            """,  # noqa: S608 (kind a Literal; work table by digest; values bound)
            [src.name, batch_id, now],
        )
        con.execute(
            "insert into ops.validation_runs values (?, ?, ?, ?, ?, ?, ?, 'gx-sql-duckdb', ?, ?)",
            [run_id, batch_id, src.name, suite["name"], failed == 0, len(outcomes), failed]
            + [now, gx_result],
        )
        _insert_rows(
            con,
            "ops.validation_results",
            [
                [
                    run_id,
                    batch_id,
                    o.expectation_type,
                    o.column,
                    json.dumps(o.kwargs, default=str),
                    o.severity,
                    o.success,
                    o.element_count,
                    o.unexpected_count,
                    o.unexpected_percent,
                    json.dumps(o.sample_values, default=str),
                ]
                for o in outcomes
            ],
        )
        (read,) = con.execute(f"select count(*) from {zoned}").fetchall()[0]  # noqa: S608 (work table named by digest)
        (accepted,) = con.execute(
            f"select count(*) from validated.{kind} where batch_id = ?",  # noqa: S608 (kind a config Literal; batch bound)
            [batch_id],
        ).fetchall()[0]
        (quarantined,) = con.execute(
            f"select count(*) from quarantine.{kind} where batch_id = ?",  # noqa: S608 (kind a config Literal; batch bound)
            [batch_id],
        ).fetchall()[0]
        non_response = 0
        if kind == "survey":
            (non_response,) = con.execute(
                "select count(*) from validated.survey_non_response where batch_id = ?",
                [batch_id],
            ).fetchall()[0]
        if read != accepted + non_response + quarantined:
            raise BatchError(
                f"{path}: rows read ({read}) != accepted ({accepted}) + non-response "
                f"({non_response}) + quarantined ({quarantined}); batch rolled back"
            )
        con.execute("delete from ops.batches where batch_id = ?", [batch_id])
        finished_at = dt.datetime.now(dt.UTC)  # after the appends: the batch's whole cost
        con.execute(
            "insert into ops.batches (batch_id, source_name, source_kind, file_path, file_hash, "
            "file_bytes, status, rows_in_file, rows_read, rows_accepted, rows_quarantined, "
            "error, started_at, finished_at, file_modified_at, rows_non_response, rows_blank) "
            "values (?, ?, ?, ?, ?, ?, 'loaded', ?, ?, ?, ?, null, ?, ?, ?, ?, ?)",
            [
                batch_id,
                src.name,
                kind,
                str(path),
                digest,
                path.stat().st_size if path.is_file() else None,
                rows_in_file,
                read,
                accepted,
                quarantined,
                started_at,
                finished_at,
                _modified_at(path),
                non_response,
                rows_blank,
            ],
        )
        holds.hold_if_over(
            con, batch_id=batch_id, src=src, read=read, quarantined=quarantined, limit=hold_limit
        )
        batch.timed("append", step)
        step = _clock()
    batch.timed("commit", step)
    with transaction(con):  # one commit, not one per row
        con.execute("delete from ops.batch_steps where batch_id = ?", [batch_id])
        _insert_rows(
            con,
            "ops.batch_steps (batch_id, step, seconds, cpu_seconds)",
            [[batch_id, name, secs, batch.cpu.get(name)] for name, secs in batch.timings.items()],
        )


def _insert_rows(con: duckdb.DuckDBPyConnection, target: str, rows: list[list]) -> None:
    """Insert `rows` (values bound) into `target` in one statement: `executemany` runs one
    statement per row, and outside a transaction each commits (and syncs) on its own."""
    if not rows:
        return
    row = f"({', '.join('?' * len(rows[0]))})"
    con.execute(
        f"insert into {target} values {', '.join([row] * len(rows))}",  # noqa: S608 (target from code; values bound)
        [value for r in rows for value in r],
    )


def _raw_rows_sql(
    con: duckdb.DuckDBPyConnection, batch_table: str, flagged: str, src: SourceConfig
) -> str:
    """The quarantined rows as read, as JSON objects of the file's columns (only those rows
    are serialised: building JSON for every row would double the cost of reading).

    Survey respondents are people: a survey row keeps only the columns its mapping reads
    (and those its `keep_rows` filter names), so unmapped age, sex or free-text columns
    never reach the quarantine tables (docs/validation.md)."""
    cols = [c for c in columns_of(con, batch_table) if c not in ("_row_number", "_row_hash")]
    if src.kind == "survey":
        cols = [c for c in cols if c in _survey_columns_kept(src, cols)]
    fields = ", ".join(f"{mapping.literal(c)}: {mapping.quote_ident(c)}" for c in cols)
    return (
        f"select _row_number, to_json({{{fields}}}) as raw_row from {batch_table} "  # noqa: S608 (work tables by digest; columns quoted, names literal())
        f"where _row_number in (select _row_number from {flagged})"
    )


def _survey_columns_kept(src: SourceConfig, present: list[str]) -> set[str]:
    """The file columns a survey source reads: mapped, unpivoted, or named by keep_rows."""
    kept = set(mapping.referenced_columns(src))
    if src.unpivot and src.unpivot.columns == ["*"]:
        kept |= {c for c in present if c not in src.unpivot.exclude}
    if src.keep_rows:
        kept |= {
            c for c in present if re.search(rf"(?<![\w]){re.escape(c)}(?![\w])", src.keep_rows.sql)
        }
    return kept


def _modified_at(path: Path) -> dt.datetime | None:
    if not path.is_file():
        return None
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def _unchanged_since_loaded(con: duckdb.DuckDBPyConnection, src: SourceConfig, path: Path) -> bool:
    """A file already loaded from the same path, size and modification time is not re-read
    (not even hashed): incremental runs cost nothing for files seen before."""
    stat = path.stat()
    row = con.execute(
        "select count(*) from ops.batches where source_name = ? and file_path = ? "  # noqa: S608 (status list a constant; values bound)
        f"and file_bytes = ? and file_modified_at = ? and status in {_SEEN}",
        [src.name, str(path), stat.st_size, dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)],
    ).fetchall()[0]
    return bool(row[0])


def _record_failure(con: duckdb.DuckDBPyConnection, batch: _Batch, error: str) -> None:
    """Record a failed batch; its file stays in landing for a re-run after the fix."""
    src, path, digest, batch_id = batch.src, batch.path, batch.digest, batch.batch_id
    started_at = batch.started_at
    with transaction(con):
        con.execute("delete from ops.batches where batch_id = ?", [batch_id])
        con.execute(
            "insert into ops.batches (batch_id, source_name, source_kind, file_path, file_hash, "
            "file_bytes, status, error, started_at, finished_at) "
            "values (?, ?, ?, ?, ?, ?, 'failed', ?, ?, ?)",
            [
                batch_id,
                src.name,
                src.kind,
                str(path),
                digest,
                path.stat().st_size if path.is_file() else None,
                error,
                started_at,
                dt.datetime.now(dt.UTC),
            ],
        )


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    src: SourceConfig,
    zones: Zones,
    now: dt.datetime | None = None,
) -> list[BatchReport]:
    """Ingest every new landing file of one source."""
    now = now or dt.datetime.now(dt.UTC)
    if src.fetch:
        fetcher = get_fetcher(src.fetch.protocol)
        try:
            fetcher(src.fetch.url, src.fetch.options, cfg.resolve(src.path).parent)
        except BatchError as exc:
            return [BatchReport(src.name, src.fetch.url, "-", "failed", error=str(exc))]
    files = landing_files(cfg, src)
    if not files:
        log.warning("source %s: no files match %s", src.name, cfg.resolve(src.path))
        return []
    warning = respondent_warning(src)
    if warning:
        log.warning(warning)
    if src.kind == "sensors":
        try:
            refresh_sensor_locations(con, cfg, src, zones)
        except BatchError as exc:
            return [BatchReport(src.name, str(src.locations.path), "-", "failed", error=str(exc))]
    return _ingest_files(con, cfg, src, files, zones, now=now)


def _ingest_files(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    src: SourceConfig,
    files: list[Path],
    zones: Zones,
    *,
    now: dt.datetime,
) -> list[BatchReport]:
    """Ingest a source's files in order, as one progress task over their bytes."""
    sizes = [path.stat().st_size for path in files]
    reports = []
    with progress.task(f"ingest {src.name}", sum(sizes), "bytes") as bar:
        for i, (path, size) in enumerate(zip(files, sizes, strict=True), start=1):
            bar.update(item=f"file {i}/{len(files)} {path.name}")
            report = ingest_file(con, cfg, src, path, zones, now=now)
            reports.append(report)
            rows = report.rows_read if report.status == "loaded" else 0
            done = f"{path.name}: batch {report.batch_id} {report.status}"
            bar.advance(size, rows=rows, item=done)
    return reports
