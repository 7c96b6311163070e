"""Corrections: supersede a batch with its corrected file, retract a batch, erase a person.

A batch is never edited. It is *withdrawn*: its accepted (and non-response) rows leave
`validated`, its open quarantine rows are closed, and `ops.batches` says why and when
(`status` 'superseded' or 'retracted', `withdrawn_at`, `withdraw_reason`). A supersede
loads the corrected file as a new batch that names the old one (`supersedes`), and the old
one names it (`superseded_by`). The raw rows of a withdrawn batch stay, for lineage.

A corrected file dropped into landing under the name of a loaded one (other bytes) is not
quarantined as duplicates of itself: the source's `corrections` says whether it supersedes
the old batch ("replace") or fails loudly with the command to run ("report"). A source
declared `append_only` reads a grown file from its first new row on.

An erasure removes a person's rows from raw, quarantine and validated, and logs only how
many rows and a hash of the key, never the key. Raw-layer access is `erase_raw_rows`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from observatory.config import Config, SourceConfig
from observatory.source_contracts import KINDS
from observatory.sources.readers import BatchError
from observatory.sql_util import quote_ident
from observatory.warehouse import columns_of, connect, table_exists, transaction

_LINEAGE_DDL = """
alter table ops.batches add column if not exists supersedes varchar;
alter table ops.batches add column if not exists superseded_by varchar;
alter table ops.batches add column if not exists withdrawn_at timestamptz;
alter table ops.batches add column if not exists withdraw_reason varchar;
alter table ops.batches add column if not exists rows_through bigint;
create table if not exists ops.erasures (
    erased_at timestamptz not null,
    source_name varchar not null,
    key_kind varchar not null,
    key_sha256 varchar not null,
    batches bigint not null,
    rows_raw bigint not null,
    rows_validated bigint not null,
    rows_quarantined bigint not null
);
"""


class CorrectionError(BatchError):
    """A supersede, retraction or erasure that cannot be done as asked."""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The lineage columns of ops.batches, the erasure log and the release origins."""
    con.execute(_LINEAGE_DDL)
    ensure_release_rows(con)


#: Each row of a quarantine-release batch -> the file row (batch, row) it was made from.
_RELEASE_ROWS_DDL = """
create table ops.release_rows (
    release_batch_id varchar not null,
    row_number bigint not null,
    origin_batch_id varchar not null,
    origin_row_number bigint not null
)
"""


def ensure_release_rows(con: duckdb.DuckDBPyConnection) -> None:
    """`ops.release_rows`, the origin of every row of every quarantine-release batch.

    A release writes its rows' origins there as it commits (`observatory.release`). The
    origins are stored, not derived from quarantine, because an erasure deletes quarantine
    rows and a supersede re-marks closed ones: either would shift a derived numbering, and
    a withdrawal would then take another file's rows. A warehouse from before the table
    gets the origins as its releases numbered them: the released rows in the order of
    their original (batch, row), for every batch whose file is `quarantine-release`."""
    if table_exists(con, "ops", "release_rows"):
        return
    con.execute(_RELEASE_ROWS_DDL)
    if not table_exists(con, "ops", "batches"):
        return
    for kind in KINDS:
        if table_exists(con, "quarantine", kind):
            con.execute(
                "insert into ops.release_rows select released_batch_id, row_number() over "  # noqa: S608 (kinds fixed in code)
                "(partition by released_batch_id order by batch_id, row_number), batch_id, "
                "row_number from (select distinct q.released_batch_id, q.batch_id, q.row_number "
                f"from quarantine.{kind} as q join ops.batches as b "
                "on b.batch_id = q.released_batch_id and b.file_path = 'quarantine-release')"
            )


@dataclass
class Withdrawal:
    """What withdrawing one batch removed."""

    batch_id: str
    status: str
    rows_validated: int = 0
    rows_non_response: int = 0
    quarantine_closed: int = 0
    superseded_by: str | None = None


@dataclass(frozen=True)
class ChangedFile:
    """A landing file whose path was loaded before with other bytes, and what to do."""

    previous: str  # the loaded batch of that path
    action: str  # append | replace | report
    offset: int = 0  # append: rows already loaded from the file
    message: str = ""


def _batch(con: duckdb.DuckDBPyConnection, batch_id: str) -> tuple[str, str, str, str]:
    rows = con.execute(
        "select source_name, source_kind, file_path, status from ops.batches where batch_id = ?",
        [batch_id],
    ).fetchall()
    if not rows:
        raise CorrectionError(f"no batch {batch_id!r}: see `observatory batches`")
    # the kind names the validated and quarantine tables in SQL: only a known kind passes
    if rows[0][1] not in KINDS:
        raise CorrectionError(f"batch {batch_id!r} has an unknown source kind {rows[0][1]!r}")
    return rows[0]


def release_origins_sql() -> str:
    """A query (one parameter: a quarantine-release batch id) of the file row each row of
    that release batch came from: row_number, origin_batch_id, origin_row_number
    (`ops.release_rows`)."""
    return (
        "select row_number, origin_batch_id, origin_row_number from ops.release_rows "
        "where release_batch_id = ?"
    )


def _withdraw(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    batch_id: str,
    now: dt.datetime,
    closed_by: str,
    *,
    stash: str | None = None,
) -> Withdrawal:
    """Remove a batch's rows from validated and close its open quarantine (in the caller's
    transaction), and the same for the rows a quarantine release took from it: the records
    of a withdrawn file leave wherever a release put them. With `stash` (a batch id), every
    validated row removed is first copied to that batch's stash (`_stash`), so `_restore`
    can put all of them back."""
    w = Withdrawal(batch_id, "")
    _withdraw_rows(con, kind, batch_id, None, now=now, closed_by=closed_by, w=w, stash=stash)
    return w


def _withdraw_rows(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    batch_id: str,
    rows: list[int] | None,
    *,
    now: dt.datetime,
    closed_by: str,
    w: Withdrawal,
    stash: str | None = None,
) -> None:
    """Withdraw `rows` (file row numbers; None: all) of one batch, adding to `w`; then,
    for every release batch that took some of them, the rows it made of them."""
    only = "" if rows is None else " and row_number in (select unnest(?::bigint[]))"
    params: list = [batch_id] + ([] if rows is None else [rows])
    tables = [("validated", kind)] + (
        [("validated", "survey_non_response")] if kind == "survey" else []
    )
    for schema, table in tables:
        if table_exists(con, schema, table):
            if stash is not None:
                con.execute(
                    f"insert into {_stash(stash, table)} by name select * from {schema}.{table} "  # noqa: S608 (stash named by a digest; kind checked against KINDS in _batch; values bound)
                    f"where batch_id = ?{only}",
                    params,
                )
            (n,) = con.execute(
                f"delete from {schema}.{table} where batch_id = ?{only}",  # noqa: S608 (kind checked against KINDS in _batch; condition from code; values bound)
                params,
            ).fetchone()
            if table == kind:
                w.rows_validated += int(n)
            else:
                w.rows_non_response += int(n)
    ensure_release_rows(con)
    of_rows = "" if rows is None else " and origin_row_number in (select unnest(?::bigint[]))"
    released = con.execute(
        "select distinct o.release_batch_id from ops.release_rows as o "  # noqa: S608 (condition from code; values bound)
        "join ops.batches as b on b.batch_id = o.release_batch_id and b.status = 'loaded' "
        f"where o.origin_batch_id = ?{of_rows} order by 1",
        params,
    ).fetchall()
    (closed,) = con.execute(
        f"update quarantine.{kind} set released_at = ?, released_batch_id = ? "  # noqa: S608 (kind checked against KINDS in _batch; condition from code; values bound)
        f"where batch_id = ? and released_at is null{only}",
        [now, closed_by, *params],
    ).fetchone()
    w.quarantine_closed += int(closed)
    for (release_batch,) in released:
        taken = [
            r[0]
            for r in con.execute(
                f"select row_number from ({release_origins_sql()}) "  # noqa: S608 (fixed query of release_origins_sql; condition from code)
                f"where origin_batch_id = ?{of_rows} order by 1",
                [release_batch, batch_id] + ([] if rows is None else [rows]),
            ).fetchall()
        ]
        if taken:
            _withdraw_rows(
                con, kind, release_batch, taken, now=now, closed_by=closed_by, w=w, stash=stash
            )


def retract(cfg: Config, batch_id: str, reason: str, now: dt.datetime | None = None) -> Withdrawal:
    """Withdraw a loaded batch: its rows leave validated, its quarantine is closed, and
    ops.batches marks it 'retracted' with the reason. Rebuild to update the marts."""
    now = now or dt.datetime.now(dt.UTC)
    with connect(cfg) as con:
        ensure_tables(con)
        _, kind, _, status = _batch(con, batch_id)
        if status != "loaded":
            raise CorrectionError(f"batch {batch_id} is {status}: only a loaded batch is retracted")
        with transaction(con):
            w = _withdraw(con, kind, batch_id, now, f"retracted:{batch_id}")
            con.execute(
                "update ops.batches set status = 'retracted', withdrawn_at = ?, "
                "withdraw_reason = ? where batch_id = ?",
                [now, reason, batch_id],
            )
    w.status = "retracted"
    return w


def supersede(
    cfg: Config, batch_id: str, file: Path | None = None, now: dt.datetime | None = None
) -> tuple[Withdrawal, object]:
    """Replace a loaded batch with its corrected file (default: the file at the batch's
    own path), loaded as a new batch that `supersedes` it.

    Returns:
        The old batch's withdrawal and the new batch's BatchReport.
    """
    from observatory.zones import load_zones  # noqa: PLC0415

    now = now or dt.datetime.now(dt.UTC)
    with connect(cfg) as con:
        ensure_tables(con)
        return supersede_with(con, cfg, batch_id, file, load_zones(cfg), now=now)


def _stash(batch_id: str, table: str) -> str:
    return f"work.superseding_{hashlib.sha256(batch_id.encode()).hexdigest()[:12]}_{table}"


def supersede_with(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    batch_id: str,
    file: Path | None,
    zones: object,
    *,
    now: dt.datetime,
) -> tuple[Withdrawal, object]:
    """`supersede` on an open connection (ingest calls it for `corrections = "replace"`).

    The old rows are set aside (status 'superseding') while the new file is validated, so
    that its records are not quarantined as already ingested; if the new file fails, they
    are put back and the old batch stays loaded. A crash in between leaves 'superseding',
    and the next supersede of that batch puts them back first.
    """
    from observatory.ingest import file_hash, ingest_file  # noqa: PLC0415

    ensure_tables(con)
    source_name, kind, file_path, status = _batch(con, batch_id)
    if status == "superseding":
        _restore(con, kind, batch_id)
    elif status != "loaded":
        raise CorrectionError(f"batch {batch_id} is {status}: only a loaded batch is superseded")
    src = cfg.source(source_name)
    path = Path(file) if file else Path(file_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the corrected file is not there")
    if f"{src.name}:{file_hash(path)[:16]}" == batch_id:
        raise CorrectionError(f"{path} has the same bytes as batch {batch_id}: nothing to correct")
    tables = [kind] + (["survey_non_response"] if kind == "survey" else [])
    with transaction(con):
        for table in tables:
            if table_exists(con, "validated", table):
                con.execute(
                    f"create or replace table {_stash(batch_id, table)} as "  # noqa: S608 (stash named by a digest; kind from config)
                    f"select * from validated.{table} limit 0"
                )
        # the stash gets every row withdrawn: the file's and those releases took from it
        w = _withdraw(con, kind, batch_id, now, f"superseding:{batch_id}", stash=batch_id)
        con.execute("update ops.batches set status = 'superseding' where batch_id = ?", [batch_id])
    report = ingest_file(con, cfg, src, path, zones, now=now)  # type: ignore[arg-type]
    # loaded now, or loaded before as a batch of its own (the same bytes under another name)
    loaded = report.status == "loaded" or (
        report.status == "skipped" and report.batch_id not in ("-", batch_id)
    )
    if not loaded:  # failed, waiting (still being copied) or not read: nothing changes
        _restore(con, kind, batch_id)
        why = f"{report.status}: {report.error}" if report.error else report.status
        raise CorrectionError(
            f"{path}: the corrected file was not loaded ({why}); batch {batch_id} stays loaded"
        )
    new = report.batch_id
    with transaction(con):
        con.execute(
            f"update quarantine.{kind} set released_batch_id = ? where released_batch_id = ?",  # noqa: S608 (kind checked against KINDS in _batch; values bound)
            [new, f"superseding:{batch_id}"],
        )
        con.execute(
            "update ops.batches set status = 'superseded', superseded_by = ?, withdrawn_at = ?, "
            "withdraw_reason = ? where batch_id = ?",
            [new, now, f"superseded by {path.name} ({new})", batch_id],
        )
        con.execute("update ops.batches set supersedes = ? where batch_id = ?", [batch_id, new])
    for table in tables:
        con.execute(f"drop table if exists {_stash(batch_id, table)}")
    w.status, w.superseded_by = "superseded", new
    return w, report


def _restore(con: duckdb.DuckDBPyConnection, kind: str, batch_id: str) -> None:
    """Put a superseding batch's rows back (its corrected file did not load)."""
    with transaction(con):
        for table in [kind] + (["survey_non_response"] if kind == "survey" else []):
            stash = _stash(batch_id, table)
            schema, name = stash.split(".")
            if table_exists(con, schema, name):
                # the stash holds whole file rows (of the batch and of releases from it):
                # those left in validated (a restore after a crash) are replaced, not doubled
                con.execute(
                    f"delete from validated.{table} as v where exists (select 1 from {stash} "  # noqa: S608 (kind checked against KINDS in _batch; stash named by a digest)
                    "as s where s.batch_id = v.batch_id and s.row_number = v.row_number)"
                )
                con.execute(f"insert into validated.{table} by name select * from {stash}")  # noqa: S608 (kind checked in _batch; stash named by a digest)
        con.execute(
            f"update quarantine.{kind} set released_at = null, released_batch_id = null "  # noqa: S608 (kind checked against KINDS in _batch; values bound)
            "where released_batch_id = ?",
            [f"superseding:{batch_id}"],
        )
        con.execute("update ops.batches set status = 'loaded' where batch_id = ?", [batch_id])
    for table in [kind] + (["survey_non_response"] if kind == "survey" else []):
        con.execute(f"drop table if exists {_stash(batch_id, table)}")


def changed_file(
    con: duckdb.DuckDBPyConnection, src: SourceConfig, path: Path, digest: str
) -> ChangedFile | None:
    """Whether `path` was loaded before with other bytes, and what the source says to do.

    An append-only source's file that still begins with the bytes last loaded is read from
    its first new row on; otherwise `corrections` decides ("replace" or "report").
    """
    ensure_tables(con)
    rows = con.execute(
        "select batch_id, file_hash, file_bytes, coalesce(rows_through, rows_in_file) "
        "from ops.batches where source_name = ? and file_path = ? and status = 'loaded' "
        "and file_hash <> ? order by started_at desc limit 1",
        [src.name, str(path), digest],
    ).fetchall()
    if not rows:
        return None
    previous, old_hash, old_bytes, through = rows[0]
    if src.append_only and old_bytes and _begins_with(path, int(old_bytes), old_hash):
        return ChangedFile(previous, "append", offset=int(through or 0))
    if src.corrections == "replace":
        return ChangedFile(previous, "replace")
    return ChangedFile(
        previous,
        "report",
        message=(
            f"changed file: {path} was loaded as batch {previous} and now has other content; "
            f"if it is a correction, run `observatory batches supersede {previous}` (or set "
            f'corrections = "replace" on source {src.name!r}; for a file that only grows, '
            "append_only = true)"
        ),
    )


def _begins_with(path: Path, size: int, sha256: str) -> bool:
    """Whether the file's first `size` bytes hash to `sha256` (it grew, unchanged before)."""
    if path.stat().st_size <= size:
        return False
    digest, left = hashlib.sha256(), size
    with path.open("rb") as fh:
        while left:
            chunk = fh.read(min(left, 1 << 20))
            if not chunk:
                return False
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest() == sha256


def skip_loaded_rows(
    con: duckdb.DuckDBPyConnection, table: str, offset: int
) -> tuple[int | None, int]:
    """Drop the rows an earlier batch of a grown append-only file already loaded (file
    rows up to `offset`); return the file's last row number and how many were dropped."""
    (through,) = con.execute(f"select max(_row_number) from {table}").fetchone()  # noqa: S608 (the batch's work table, named by file digest)
    if not offset:
        return through, 0
    (dropped,) = con.execute(
        f"select count(*) from {table} where _row_number <= ?",  # noqa: S608 (the batch's work table, named by file digest; offset bound)
        [offset],
    ).fetchone()
    # the reader may have made a view (over `<table>__file`): keep the new rows as a table
    # of the same name, which the batch's clean-up drops like any reader's table
    kept = f"{table}__new_rows"
    con.execute(
        f"create or replace table {kept} as select * from {table} where _row_number > ?",  # noqa: S608 (the batch's work table, named by file digest; offset bound)
        [offset],
    )
    name = table.rsplit(".", 1)[-1]
    for kind in ("view", "table"):  # `table` is one or the other (in any catalog)
        try:
            con.execute(f"drop {kind} if exists {table}")
        except duckdb.CatalogException:
            pass
    con.execute(f"alter table {kept} rename to {name}")
    return through, int(dropped)


def record_rows_through(con: duckdb.DuckDBPyConnection, batch_id: str, through: int | None) -> None:
    """The last file row a batch covers (an append-only file's next batch starts after it)."""
    ensure_tables(con)
    con.execute("update ops.batches set rows_through = ? where batch_id = ?", [through, batch_id])


@dataclass
class Erasure:
    """What an erasure removed (counts only: the log keeps no personal data)."""

    source: str
    batches: int
    rows_raw: int
    rows_validated: int
    rows_quarantined: int


def _respondent_column(src: SourceConfig) -> str:
    column = src.columns.get("respondent_id")
    if not isinstance(column, str):
        raise CorrectionError(
            f"source {src.name!r} maps no single respondent_id column: erase by --record"
        )
    return column


def _rows_of(
    con: duckdb.DuckDBPyConnection, src: SourceConfig, respondent: str | None, record: str | None
) -> list[tuple[str, int]]:
    """(batch_id, file row) of every row that holds the person's data."""
    kind = src.kind
    key, value = ("respondent_id", respondent) if respondent else ("record_id", record)
    parts, params = [], []
    tables = [kind] + (["survey_non_response"] if kind == "survey" else [])
    for table in tables:
        if table_exists(con, "validated", table):
            parts.append(
                f"select batch_id, row_number from validated.{table} "  # noqa: S608 (kind from config; key column from code; values bound)
                f"where source_name = ? and {key} = ?"
            )
            params += [src.name, value]
    if respondent:
        q_where = "json_extract_string(raw_row, ?) = ?"
        q_params = ["$." + quote_ident(_respondent_column(src)), respondent]
    else:
        q_where, q_params = "record_id = ?", [record]
    parts.append(
        f"select batch_id, row_number from quarantine.{kind} where source_name = ? and {q_where}"  # noqa: S608 (kind from config; condition from code; values bound)
    )
    params += [src.name, *q_params]
    return con.execute(
        f"select distinct batch_id, row_number from ({' union all '.join(parts)}) order by all",  # noqa: S608 (parts built above from code; values bound)
        params,
    ).fetchall()


def _withdrawn_rows_of(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    src: SourceConfig,
    respondent: str | None,
    record: str | None,
) -> list[tuple[str, int]]:
    """(batch_id, file row) of the person's rows in the archived files of the source's
    withdrawn batches (superseded or retracted): their rows left validated, but the file
    stays archived for lineage, and the person is in it.

    Each file is read with the source's reader; a respondent is found by the mapped
    column, a record by the record id the mapping makes of the row."""
    if not table_exists(con, "raw", "files"):
        return []
    from observatory import archive  # noqa: PLC0415  (raw as archived files)
    from observatory.sources.mapping import compile_conform  # noqa: PLC0415
    from observatory.sources.readers import drop_batch_table, load_file  # noqa: PLC0415

    batches = con.execute(
        "select batch_id from ops.batches where source_name = ? "
        "and status in ('superseded', 'retracted') order by 1",
        [src.name],
    ).fetchall()
    found: list[tuple[str, int]] = []
    work = "work.erase_withdrawn_file"
    for (batch_id,) in batches:
        path = archive.archived_path(con, batch_id)
        if path is None or not path.is_file():
            continue
        load_file(con, src.format, path, src.read, work)
        try:
            if respondent is not None:
                column = _respondent_column(src)
                if column not in columns_of(con, work):
                    continue
                sql = f"select distinct _row_number from {work} where {quote_ident(column)} = ?"  # noqa: S608 (work table fixed; column quoted)
            else:
                conform = compile_conform(src, work, cfg.city.timezone, columns_of(con, work))
                sql = f"select distinct _row_number from ({conform}) where record_id = ?"  # noqa: S608 (compiled from config: identifiers quoted, values literal())
            found += [
                (batch_id, int(r[0]))
                for r in con.execute(
                    sql, [respondent if respondent is not None else record]
                ).fetchall()
            ]
        finally:
            drop_batch_table(con, work)
    return found


def erase_raw_rows(con: duckdb.DuckDBPyConnection, src: SourceConfig, keys: str) -> int:
    """Remove file rows (`keys`: a table of batch_id, row_number) from the raw layer, the
    one place that knows how raw is kept: rows of `raw.<source>` where that is a table,
    and the rows of archived files where raw is the files themselves (`raw.files`)."""
    if table_exists(con, "raw", src.name):
        (n,) = con.execute(
            f"delete from raw.{quote_ident(src.name)} as r where exists (select 1 from {keys} "  # noqa: S608 (source name quoted; keys a fixed work table)
            "as k where k.batch_id = r._batch_id and k.row_number = r._row_number)"
        ).fetchone()
        return int(n)
    if not table_exists(con, "raw", "files"):
        return 0
    from observatory import archive  # noqa: PLC0415  (raw as archived files)

    removed = 0
    rows = con.execute(f"select batch_id, list(row_number) from {keys} group by 1").fetchall()  # noqa: S608 (keys a fixed work table)
    for batch_id, numbers in rows:
        if archive.erase_rows(con, batch_id, list(numbers), src.read, note="erasure"):
            removed += len(numbers)
    return removed


#: What an erasure leaves in place of a sampled value (ops.validation_results, the GX
#: results in ops.validation_runs, Data Docs).
ERASED = "(erased)"
#: Sample lists in a GX expectation result (`result_format` SUMMARY and larger).
_SAMPLE_LISTS = ("partial_unexpected_list", "unexpected_list")


def _scrubbed_result(result: dict) -> bool:
    """Replace every sampled row value of a GX suite result (one dict, changed in place) by
    `ERASED`; return whether anything changed. Counts and percentages stay: they are
    aggregates. A column expectation's `observed_value` (a column's min, max or most common
    value can be one person's) goes too; a table's (row count, columns) stays."""
    changed = False
    for evr in result.get("results") or []:
        res = evr.get("result") or {}
        for key in _SAMPLE_LISTS:
            if res.get(key):
                res[key] = [ERASED] * len(res[key])
                changed = True
        if res.get("partial_unexpected_counts"):
            res["partial_unexpected_counts"] = [
                {**c, "value": ERASED} for c in res["partial_unexpected_counts"]
            ]
            changed = True
        for key in ("partial_unexpected_index_list", "unexpected_index_list", "unexpected_rows"):
            changed = res.pop(key, None) is not None or changed
        column = ((evr.get("expectation_config") or {}).get("kwargs") or {}).get("column")
        if column is not None and res.get("observed_value") is not None:
            res["observed_value"] = ERASED
            changed = True
    return changed


def scrub_validation_samples(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> int:
    """Remove the sampled values of every validation run of these batches: an erased
    person's failing value may be among them (samples are values, not rows, so which
    sample is whose cannot be told; the whole batch's samples go). Returns the runs
    changed. Call inside the erasure's transaction; Data Docs are rebuilt from the result
    after it (`build_docs`)."""
    if not batch_ids or not table_exists(con, "ops", "validation_results"):
        return 0
    marks = ", ".join("?" for _ in batch_ids)
    con.execute(
        f"update ops.validation_results set sample_values = to_json([{ERASED!r} "  # noqa: S608 (placeholders only; the marker a constant)
        "for x in range(cast(json_array_length(sample_values) as bigint))]) "
        f"where batch_id in ({marks}) and column_name is not null "
        "and json_array_length(sample_values) > 0",
        batch_ids,
    )
    if "result_json" not in columns_of(con, "ops.validation_runs"):
        return 0
    runs = con.execute(
        f"select run_id, result_json from ops.validation_runs where batch_id in ({marks}) "  # noqa: S608 (placeholders only)
        "and result_json is not null",
        batch_ids,
    ).fetchall()
    changed = 0
    for run_id, text in runs:
        result = json.loads(text)
        if _scrubbed_result(result):
            con.execute(
                "update ops.validation_runs set result_json = ? where run_id = ?",
                [json.dumps(result), run_id],
            )
            changed += 1
    return changed


def erase(
    cfg: Config,
    source: str,
    *,
    respondent: str | None = None,
    record: str | None = None,
    now: dt.datetime | None = None,
    rebuild: bool = True,
) -> Erasure:
    """Remove a respondent's (or one record's) rows from raw, quarantine and validated,
    log the erasure without the key (its SHA-256 and the counts), and rebuild the marts.

    Raises:
        CorrectionError: neither or both of respondent and record, or no such rows.
    """
    if (respondent is None) == (record is None):
        raise CorrectionError("erase: give either --respondent or --record")
    src = cfg.source(source)
    now = now or dt.datetime.now(dt.UTC)
    with connect(cfg) as con:
        ensure_tables(con)
        rows = _rows_of(con, src, respondent, record)
        rows = sorted(set(rows) | set(_withdrawn_rows_of(con, cfg, src, respondent, record)))
        if not rows:
            raise CorrectionError(
                f"source {source!r} holds no row of that {'respondent' if respondent else 'record'}"
            )
        keys = "work.erase_keys"
        con.execute(f"create or replace table {keys} (batch_id varchar, row_number bigint)")
        con.executemany(f"insert into {keys} values (?, ?)", rows)  # noqa: S608 (keys a fixed work table; values bound)
        matches = (
            f"exists (select 1 from {keys} as k where k.batch_id = t.batch_id "  # noqa: S608 (keys a fixed work table)
            "and k.row_number = t.row_number)"
        )
        # raw first, in its own step (an archived file is rewritten and renamed, which no
        # transaction rolls back); a crash after it leaves validated rows that a second
        # erase finds and removes (erasing raw rows twice is harmless)
        raw = erase_raw_rows(con, src, keys)
        with transaction(con):
            validated = 0
            for table in [src.kind] + (["survey_non_response"] if src.kind == "survey" else []):
                if table_exists(con, "validated", table):
                    (n,) = con.execute(
                        f"delete from validated.{table} as t where source_name = ? and {matches}",  # noqa: S608 (kind from config; values bound)
                        [source],
                    ).fetchone()
                    validated += int(n)
            (quarantined,) = con.execute(
                f"delete from quarantine.{src.kind} as t where source_name = ? and {matches}",  # noqa: S608 (kind from config; values bound)
                [source],
            ).fetchone()
            scrub_validation_samples(con, sorted({b for b, _ in rows}))
            key = respondent if respondent is not None else record
            result = Erasure(source, len({b for b, _ in rows}), raw, validated, int(quarantined))
            con.execute(
                "insert into ops.erasures values (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    now,
                    source,
                    "respondent" if respondent else "record",
                    hashlib.sha256(str(key).encode()).hexdigest(),
                    result.batches,
                    result.rows_raw,
                    result.rows_validated,
                    result.rows_quarantined,
                ],
            )
        con.execute(f"drop table {keys}")
        site = cfg.resolve(cfg.project.data_docs) / "index.html"
        if site.is_file():  # the site shows the samples: render it again without them
            from observatory.validation.data_docs import build_docs  # noqa: PLC0415

            build_docs(cfg, con)
        if rebuild:
            import inspect  # noqa: PLC0415

            from observatory.pipeline import build  # noqa: PLC0415

            # every month again, frozen ones too: the person was in months long closed
            full = {"full": True} if "full" in inspect.signature(build).parameters else {}
            build(cfg, con=con, **full)
    return result
