"""Analysts act on quarantine: list it, look at rows, and release them after a fix.

A release re-processes quarantined rows through the *current* mapping and suite, as one
new batch per file they came from (`<source>:release-<hash>`): rows that now pass are
appended to `validated`,
rows that still fail are quarantined again under the new batch with their new reasons,
and the originals are stamped `released_at` in the same transaction. So nothing is lost,
nothing is released twice, and the release batch reconciles like any other
(released = accepted + re-quarantined). Records already accepted are never duplicated:
the suite's cross-batch id check still applies.

One release batch per original batch keeps a release batch part of exactly one file: a
hold on that file (`observatory.ops.holds`) holds its release batch and nothing of another
file's, and releasing the hold releases both. Each release batch commits on its own; a
release stopped half-way has released some files' rows and leaves the others open, and
running it again releases those.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from observatory import archive
from observatory.config import Config, SourceConfig
from observatory.corrections import ensure_release_rows
from observatory.ingest import (
    BatchReport,
    _Batch,
    _commit_batch,
    attach_work_catalog,
    drop_work_tables,
    validate_batch,
)
from observatory.ops import holds
from observatory.sources.mapping import quote_ident
from observatory.sources.readers import drop_batch_table, load_file
from observatory.warehouse import connect
from observatory.zones import load_zones


def _filters(source: str | None, batch_id: str | None, reason: str | None) -> tuple[str, list]:
    clauses, params = ["released_at is null"], []
    for column, value, op in (
        ("source_name", source, "="),
        ("batch_id", batch_id, "="),
        ("reason", reason, "ilike"),
    ):
        if value:
            clauses.append(f"{column} {op} ?")
            params.append(f"%{value}%" if op == "ilike" else value)
    return " and ".join(clauses), params


def _all_quarantine() -> str:
    return " union all ".join(
        f"select '{k}' as source_kind, * from quarantine.{k}"  # noqa: S608 (kinds fixed in code)
        for k in ("survey", "incidents", "sensors")
    )


def summary(cfg: Config) -> list[dict[str, Any]]:
    """Open quarantine per source and reason: how many rows, in how many batches."""
    con = connect(cfg, read_only=True)
    try:
        rows = con.execute(
            f"""
            select source_name, reason, count(*) as rows, count(distinct batch_id) as batches,
                   max(quarantined_at) as last_at
            from ({_all_quarantine()}) where released_at is null
            group by all order by source_name, rows desc
            """  # noqa: S608 (union fixed in code; filter columns from code, values bound)
        ).fetchall()
    finally:
        con.close()
    keys = ("source", "reason", "rows", "batches", "last_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def show(
    cfg: Config,
    source: str | None = None,
    batch_id: str | None = None,
    reason: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Quarantined rows (open ones), with the row as read and the failed expectations."""
    where, params = _filters(source, batch_id, reason)
    con = connect(cfg, read_only=True)
    try:
        rel = con.execute(
            f"""
            select source_name, batch_id, row_number, record_id, reason, failed_expectations,
                   raw_row
            from ({_all_quarantine()}) where {where}
            order by batch_id, row_number limit {int(limit)}
            """,  # noqa: S608 (union fixed in code; filter columns from code, values bound)
            params,
        )
        cols = [d[0] for d in rel.description]
        return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
    finally:
        con.close()


def _select_release_set(
    con: duckdb.DuckDBPyConnection, kind: str, where: str, params: list
) -> tuple[int, str]:
    """Pick the records to release; return how many and a digest naming the set."""
    con.execute(
        f"""
        create or replace table work.release_set as
        select batch_id, row_number, record_id, raw_row
        from quarantine.{kind} where {where}
        """,  # noqa: S608 (kind a config Literal; filter columns from code, values bound)
        params,
    )
    (n,) = con.execute("select count(*) from work.release_set").fetchall()[0]
    digest = con.execute(
        "select md5(string_agg(batch_id || '#' || row_number || '#' || coalesce(record_id, ''), "
        "',' order by batch_id, row_number, record_id)) from work.release_set"
    ).fetchall()[0][0]
    return int(n), hashlib.sha256(str(digest).encode()).hexdigest()


def _build_release_batch(con: duckdb.DuckDBPyConnection, src: SourceConfig, target: str) -> None:
    """Rebuild a raw batch from the released rows: one row per original file row.

    The rows come from the archive (`raw.files`): each original batch's file is read again
    with the source's reader and its released row numbers picked, so a row is re-processed
    exactly as the file had it. Rows whose batch has no archived file (a release batch's
    own re-quarantined rows, or a warehouse from before the archive) come from the copy of
    the row kept in quarantine (`raw_row`)."""
    parts, archived = [], set()
    batches = [
        r[0] for r in con.execute("select distinct batch_id from work.release_set").fetchall()
    ]
    for i, batch_id in enumerate(sorted(batches)):
        path = archive.archived_path(con, batch_id)
        if path is None:
            continue
        work = f"work.release_file_{i}"
        load_file(con, src.format, path, src.read, work)
        con.execute(
            f"create or replace table {work}_rows as select ? as _orig_batch_id, "  # noqa: S608 (work table from a loop index; batch id bound)
            f"_row_number as _orig_row_number, * exclude (_row_number, _row_hash) from {work} "
            "where _row_number in (select row_number from work.release_set where batch_id = ?)",
            [batch_id, batch_id],
        )
        drop_batch_table(con, work)
        parts.append(f"select * from {work}_rows")  # noqa: S608 (work table from a loop index)
        archived.add(batch_id)
    keys = [
        r[0]
        for r in con.execute(
            "select distinct unnest(json_keys(raw_row)) as k from work.release_set "
            "where not list_contains(?, batch_id) order by k",
            [sorted(archived)],
        ).fetchall()
    ]
    cols = ", ".join(f"raw_row ->> {_lit(k)} as {quote_ident(k)}" for k in keys)
    # the rows are numbered in the order of their original (batch, row); each row's origin
    # is stored as the batch commits (ops.release_rows): a withdrawal of the original
    # batch finds its rows there
    parts.append(
        "select distinct batch_id as _orig_batch_id, row_number as _orig_row_number"  # noqa: S608 (JSON keys escaped by _lit() and quote_ident(); batch ids escaped)
        f"{', ' + cols if cols else ''} from work.release_set "
        f"where not list_contains({_list_literal(sorted(archived))}, batch_id)"
    )
    con.execute(
        "create or replace table work.release_rows as "  # noqa: S608 (parts built above from escaped or fixed SQL)
        "select row_number() over (order by _orig_batch_id, _orig_row_number) as _row_number, * "
        f"from ({' union all by name '.join(parts)})"
    )
    for i in range(len(parts) - 1):
        con.execute(f"drop table if exists work.release_file_{i}_rows")
    con.execute(
        f"create or replace table {target} as select _row_number, "  # noqa: S608 (target the batch's work table, named by digest)
        "hash(row(*columns(* exclude (_row_number, _orig_batch_id, _orig_row_number)))) "
        "as _row_hash, "
        "* exclude (_orig_batch_id, _orig_row_number) from work.release_rows"
    )


def _list_literal(values: list[str]) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]::varchar[]"


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class ReleaseReport(BatchReport):
    """A release's totals, and the release batch of each file its rows came from."""

    batches: list[BatchReport] = field(default_factory=list)


def release(
    cfg: Config,
    source: str,
    batch_id: str | None = None,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> ReleaseReport:
    """Re-process open quarantined rows of one source through validation, as one release
    batch per batch they came from.

    Returns:
        The totals over the release batches (rows read = released records), and each
        release batch's report in `batches`. `batch_id` is the release batch's id when
        there is one, the ids joined by ", " when there are more.
    """
    src = cfg.source(source)
    now = now or dt.datetime.now(dt.UTC)
    where, params = _filters(source, batch_id, reason)
    zones = load_zones(cfg)
    con = connect(cfg)
    try:
        ensure_release_rows(con)
        origins = [
            r[0]
            for r in con.execute(
                f"select distinct batch_id from quarantine.{src.kind} where {where} order by 1",  # noqa: S608 (kind a config Literal; filter columns from code, values bound)
                params,
            ).fetchall()
        ]
        reports = [
            _release_one(
                con, cfg, src, (f"{where} and batch_id = ?", [*params, o]), zones=zones, now=now
            )
            for o in origins
        ]
    finally:
        con.close()
    done = [r for r in reports if r.status == "loaded"]
    if not done:
        return ReleaseReport(src.name, "quarantine", "-", "skipped")
    return ReleaseReport(
        src.name,
        "quarantine",
        ", ".join(r.batch_id for r in done),
        "loaded",
        sum(r.rows_read for r in done),
        sum(r.rows_accepted for r in done),
        sum(r.rows_quarantined for r in done),
        batches=done,
    )


def _release_one(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    src: SourceConfig,
    selected: tuple[str, list],
    *,
    zones: Any,
    now: dt.datetime,
) -> BatchReport:
    """Release the `selected` quarantine rows (condition and its parameters; all of one
    original batch) as one batch."""
    n, digest = _select_release_set(con, src.kind, *selected)
    if n == 0:
        return BatchReport(src.name, "quarantine", "-", "skipped")
    batch = _Batch(src, Path("quarantine-release"), digest, now, label="release-")
    attach_work_catalog(con)
    try:
        _build_release_batch(con, src, batch.table("b"))
        suite, outcomes = validate_batch(con, cfg, batch, zones, now)
        _keep_released_records(con, batch)
        (rows,) = con.execute("select count(*) from work.release_rows").fetchall()[0]

        def mark_originals() -> None:
            con.execute(
                f"""
                update quarantine.{src.kind} as q
                set released_at = ?, released_batch_id = ?
                from work.release_set as r
                where q.batch_id = r.batch_id and q.row_number = r.row_number
                  and q.record_id is not distinct from r.record_id
                  and q.released_at is null
                """,  # noqa: S608 (kind a config Literal; values bound)
                [now, batch.batch_id],
            )
            con.execute(
                "insert into ops.release_rows select ?, _row_number, _orig_batch_id, "
                "_orig_row_number from work.release_rows",
                [batch.batch_id],
            )
            # how many of the batch's released rows fail again (flagged in this batch's
            # work tables: its quarantine rows are written after this)
            zoned, flagged = batch.table("z"), batch.table("f")
            again = dict.fromkeys(
                (r[0] for r in con.execute(
                    "select distinct batch_id from work.release_set").fetchall()),
                0,
            )  # fmt: skip
            again |= dict(
                con.execute(
                    f"select rr._orig_batch_id, count(*) from {zoned} as z "  # noqa: S608 (the batch's work tables, named by digest)
                    "join work.release_rows as rr on rr._row_number = z._row_number "
                    f"where exists (select 1 from {flagged} as f where f._zrow = z.rowid) "
                    "group by 1"
                ).fetchall()
            )
            holds.after_quarantine_release(
                con, cfg, src, batch.batch_id, requarantined=again, now=now
            )

        _commit_batch(con, batch, int(rows), suite, outcomes, append_raw=False, also=mark_originals)
    finally:
        drop_work_tables(con, batch)
    (read, accepted, quarantined) = con.execute(
        "select rows_read, rows_accepted, rows_quarantined from ops.batches where batch_id = ?",
        [batch.batch_id],
    ).fetchall()[0]
    return BatchReport(
        src.name, "quarantine", batch.batch_id, "loaded", read, accepted, quarantined
    )


def _keep_released_records(con: duckdb.DuckDBPyConnection, batch: _Batch) -> None:
    """Of a re-unpivoted wide row, keep only the records that were quarantined.

    Deletes (rather than rebuilds) so that the kept rows of z keep the rowids f refers to.
    """
    zoned, flagged = batch.table("z"), batch.table("f")
    con.execute(
        f"""
        delete from {zoned} as z
        where not exists (
            select 1
            from work.release_rows as rr
            join work.release_set as s
              on s.batch_id = rr._orig_batch_id and s.row_number = rr._orig_row_number
            where rr._row_number = z._row_number
              and s.record_id is not distinct from z.record_id
        )
        """  # noqa: S608 (the batch's work tables, named by file digest)
    )
    con.execute(f"delete from {flagged} where _zrow not in (select rowid from {zoned})")  # noqa: S608 (the batch's work tables, named by file digest)
