"""Write-audit-publish: a batch that quarantines too much is loaded but held.

A batch whose quarantined share is above its source's `max_quarantine_share` (default: the
project's `[monitoring] hold_quarantine_share`) is committed as usual (raw, validated,
quarantine, ops.batches: nothing is lost and rows still reconcile), and a row in
`ops.batch_holds` holds it, in the same transaction. While held:

* the staging models (and `idx_periods`' view of what has been delivered) leave the batch's
  rows out, so the index is computed as if the file had not landed: a period it touches
  keeps the values it had before, and a period only it delivers is not published;
* `idx.idx_periods.held_batches` names it for every period it touches, and those periods
  are provisional (`marts.city_summary.held_batches`, exports' `is_provisional`);
* the ingest DAG's `check_batches` task is red and the alert names the file, the rows and
  the way out.

`release` (the CLI's `observatory batches release ID`, or the ingest DAG triggered with
`{"release_batch": ID}`) records who released it, when and why; the next build publishes
it. Holds are never deleted: `ops.batch_holds` is the record of every hold and release.
"""

from __future__ import annotations

import datetime as dt
import getpass
from typing import Any

import duckdb

from observatory.config import Config, ConfigError, SourceConfig
from observatory.warehouse import connect, table_exists, transaction

#: The accepted rows' event time per source kind: the periods a batch touches.
EVENT_TIME = {"survey": "surveyed_at", "incidents": "occurred_at", "sensors": "measured_at"}


def max_share(cfg: Config, src: SourceConfig) -> float:
    """The quarantined share above which a batch of `src` is held."""
    if src.max_quarantine_share is not None:
        return src.max_quarantine_share
    return cfg.monitoring.hold_quarantine_share


def hold_if_over(
    con: duckdb.DuckDBPyConnection,
    *,
    batch_id: str,
    src: SourceConfig,
    read: int,
    quarantined: int,
    limit: float | None,
) -> str | None:
    """Hold the batch if its quarantined share is above `limit` (inside the batch's
    transaction, so a batch is never visible unheld); the hold's reason, else None.

    Rows a source's `keep_rows` declares not its own (a file's city-wide or sector rows)
    are not bad data: they count neither as read nor as quarantined here."""
    if limit is None:
        return None
    if src.keep_rows is not None:
        (out_of_scope,) = con.execute(
            f"select count(*) from quarantine.{src.kind} where batch_id = ? and reason = ?",  # noqa: S608 (kind a config Literal; values bound)
            [batch_id, src.keep_rows.reason],
        ).fetchall()[0]
        read, quarantined = read - out_of_scope, quarantined - out_of_scope
    if read <= 0 or quarantined / read <= limit:
        return None
    share = quarantined / read
    top = con.execute(
        f"select reason, count(*) as n from quarantine.{src.kind} where batch_id = ? "  # noqa: S608 (kind a config Literal; values bound)
        "group by reason order by n desc, reason limit 1",
        [batch_id],
    ).fetchall()
    why = f"; most often: {top[0][0]} ({top[0][1]:,} rows)" if top else ""
    reason = (
        f"{quarantined:,} of {read:,} rows ({share:.1%}) went to quarantine, above the "
        f"source's limit of {limit:.0%}{why}"
    )
    con.execute(
        "delete from ops.batch_holds where batch_id = ? and released_at is null", [batch_id]
    )
    con.execute(
        "insert into ops.batch_holds (batch_id, source_name, held_at, reason, "
        "quarantined_share, max_share) values (?, ?, ?, ?, ?, ?)",
        [batch_id, src.name, dt.datetime.now(dt.UTC), reason, share, limit],
    )
    return reason


def open_hold(con: duckdb.DuckDBPyConnection, batch_id: str) -> str | None:
    """The reason the batch is held, if it is held now."""
    rows = con.execute(
        "select reason from ops.batch_holds where batch_id = ? and released_at is null",
        [batch_id],
    ).fetchall()
    return rows[0][0] if rows else None


def _periods(con: duckdb.DuckDBPyConnection, cfg: Config, batch_id: str, kind: str) -> list[str]:
    """The local months (YYYY-MM) of the batch's accepted rows."""
    rows = con.execute(
        f"select distinct strftime(timezone(?, {EVENT_TIME[kind]}), '%Y-%m') as p "  # noqa: S608 (kind is a key of EVENT_TIME (else KeyError); values bound)
        f"from validated.{kind} where batch_id = ? order by p",
        [cfg.city.timezone, batch_id],
    ).fetchall()
    return [r[0] for r in rows if r[0] is not None]


def held(
    cfg: Config, con: duckdb.DuckDBPyConnection | None = None, *, include_released: bool = False
) -> list[dict[str, Any]]:
    """Open holds (and, with `include_released`, past ones), oldest first: the batch, its
    file, rows, share, reason, the periods it holds back, and its release if any."""
    own = con is None
    if own:
        if not cfg.warehouse_path.is_file():
            return []
        con = connect(cfg, read_only=True)
    try:
        if not table_exists(con, "ops", "batch_holds"):
            return []
        rows = con.execute(
            """
            select h.batch_id, h.source_name, b.source_kind, b.file_path, b.rows_read,
                   b.rows_quarantined, h.quarantined_share, h.max_share, h.reason, h.held_at,
                   h.released_at, h.released_by, h.note
            from ops.batch_holds as h
            left join ops.batches as b using (batch_id)
            where $all or h.released_at is null
            order by h.held_at, h.batch_id
            """,
            {"all": include_released},
        ).fetchall()
        names = [
            "batch_id", "source_name", "source_kind", "file_path", "rows_read",
            "rows_quarantined", "quarantined_share", "max_share", "reason", "held_at",
            "released_at", "released_by", "note",
        ]  # fmt: skip
        out = [dict(zip(names, r, strict=True)) for r in rows]
        for h in out:
            kind = h["source_kind"]
            h["periods"] = _periods(con, cfg, h["batch_id"], kind) if kind else []
        return out
    finally:
        if own:
            con.close()


def release(
    cfg: Config,
    batch_id: str,
    *,
    by: str | None = None,
    note: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Release a held batch: the next build publishes it. Safe to repeat (a released
    batch is reported as such, unchanged).

    Args:
        cfg: The project.
        batch_id: The held batch (`observatory batches held` lists them).
        by: Who releases it (default: the OS user).
        note: Why (kept with the release).
        con: An open read-write connection (else one is opened).
        source: If given, the batch must belong to this source.

    Raises:
        ConfigError: no such batch, it was never held, or it is another source's.
    """
    own = con is None
    con = con or connect(cfg)
    try:
        rows = con.execute(
            "select source_name, released_at, released_by, note from ops.batch_holds "
            "where batch_id = ? order by held_at desc limit 1",
            [batch_id],
        ).fetchall()
        if not rows:
            known = [h["batch_id"] for h in held(cfg, con)]
            hint = f"held now: {', '.join(known)}" if known else "no batch is held"
            raise ConfigError(f"batch {batch_id!r} is not held ({hint})")
        source_name, released_at, released_by, old_note = rows[0]
        if source is not None and source_name != source:
            raise ConfigError(
                f"batch {batch_id!r} is a batch of {source_name!r}, not {source!r}: release "
                f"it from {cfg.city.id}.ingest.{source_name}"
            )
        if released_at is not None:
            return {"batch_id": batch_id, "source_name": source_name, "released_at":
                    released_at, "released_by": released_by, "note": old_note,
                    "already_released": True}  # fmt: skip
        now = dt.datetime.now(dt.UTC)
        by = by or getpass.getuser()
        with transaction(con):
            _release_rows(con, batch_id, now, by, note)
        return {"batch_id": batch_id, "source_name": source_name, "released_at": now,
                "released_by": by, "note": note, "already_released": False}  # fmt: skip
    finally:
        if own:
            con.close()


def _release_rows(
    con: duckdb.DuckDBPyConnection, batch_id: str, now: dt.datetime, by: str, note: str | None
) -> None:
    """Release the batch's open hold, and those of the quarantine-release batches held
    with it (`held_with`: its rows re-processed while it was held), in the caller's
    transaction."""
    _ensure_held_with(con)
    con.execute(
        "update ops.batch_holds set released_at = ?, released_by = ?, note = ? "
        "where batch_id = ? and released_at is null",
        [now, by, note, batch_id],
    )
    con.execute(
        "update ops.batch_holds set released_at = ?, released_by = ?, note = ? "
        "where held_with = ? and released_at is null",
        [now, by, f"released with {batch_id}", batch_id],
    )


def _ensure_held_with(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("alter table ops.batch_holds add column if not exists held_with varchar")


def after_quarantine_release(
    con: duckdb.DuckDBPyConnection,
    cfg: Config,
    src: SourceConfig,
    release_batch_id: str,
    *,
    requarantined: dict[str, int],
    now: dt.datetime,
    by: str | None = None,
) -> dict[str, str]:
    """Settle the holds a quarantine release touches, in the release's own transaction.

    A held batch whose quarantined rows were released has less in quarantine now: its
    share is measured again, on its rows still quarantined (those not released, and those
    the release quarantined again), and the hold is lifted if that is within the limit
    (the note says by which release). If it is still above, the hold stays and the release
    batch is held with it (`held_with`): its rows are part of the same file, and
    publishing them without the file's other rows would publish part of a file.
    Releasing the batch (`release`) releases both. A release of rows that an earlier
    release quarantined again counts for the file they came from.

    Args:
        requarantined: Each batch whose rows were released -> how many of them the
            release quarantined again.

    Returns:
        Each held batch the release touched -> "lifted" or "still held".
    """
    _ensure_held_with(con)
    again: dict[str, int] = {}
    for batch_id, n in requarantined.items():
        rows = con.execute(
            "select held_with from ops.batch_holds where batch_id = ? and released_at is null",
            [batch_id],
        ).fetchall()
        if rows:  # held: count it for the file it belongs to
            root = rows[0][0] or batch_id
            again[root] = again.get(root, 0) + int(n)
    by = by or getpass.getuser()
    limit = max_share(cfg, src)
    outcome: dict[str, str] = {}
    for root in sorted(again):
        family = [root] + [
            r[0]
            for r in con.execute(
                "select batch_id from ops.batch_holds where held_with = ? and released_at is null",
                [root],
            ).fetchall()
        ]
        marks = ", ".join("?" for _ in family)
        (still,) = con.execute(
            f"select count(*) from quarantine.{src.kind} where batch_id in ({marks}) "  # noqa: S608 (kind a config Literal; placeholders only)
            "and released_at is null",
            family,
        ).fetchall()[0]
        (read,) = con.execute(
            "select coalesce(max(rows_read), 0) from ops.batches where batch_id = ?", [root]
        ).fetchall()[0]
        out_of_scope = 0
        if src.keep_rows is not None:
            (out_of_scope,) = con.execute(
                f"select count(*) from quarantine.{src.kind} where batch_id = ? and reason = ?",  # noqa: S608 (kind a config Literal; values bound)
                [root, src.keep_rows.reason],
            ).fetchall()[0]
        total = int(read) - out_of_scope
        share = (still + again[root] - out_of_scope) / total if total > 0 else 0.0
        if share <= limit:
            _release_rows(
                con,
                root,
                now,
                by,
                f"lifted by quarantine release {release_batch_id}: {share:.1%} of its rows "
                f"still in quarantine, within the limit of {limit:.0%}",
            )
            outcome[root] = "lifted"
        else:
            con.execute(
                "insert into ops.batch_holds (batch_id, source_name, held_at, reason, "
                "quarantined_share, max_share, held_with) values (?, ?, ?, ?, ?, ?, ?)",
                [
                    release_batch_id,
                    src.name,
                    now,
                    f"re-processed rows of held batch {root} ({share:.1%} of its rows still "
                    f"in quarantine, above {limit:.0%}): released with it",
                    share,
                    limit,
                    root,
                ],
            )
            outcome[root] = "still held"
    return outcome


def unconsumed(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    """Loaded, unheld batches of `source` that the latest successful build did not read
    (`ops.publication_batches`): the index has not used them yet, so the source's Asset
    must be announced, even by a retry whose files were all skipped."""
    if not table_exists(con, "ops", "publication_batches"):
        last_build = "(select null::varchar as batch_id where false)"
    else:
        last_build = (
            "(select batch_id from ops.publication_batches where build_id = ("
            "select build_id from ops.builds where status = 'succeeded' "
            "order by finished_at desc limit 1))"
        )
    rows = con.execute(
        f"""
        select b.batch_id from ops.batches as b
        where b.source_name = ? and b.status = 'loaded'
            and not exists (
                select 1 from ops.batch_holds as h
                where h.batch_id = b.batch_id and h.released_at is null
            )
            and b.batch_id not in {last_build}
        order by b.finished_at, b.batch_id
        """,  # noqa: S608 (subquery fixed in code; values bound)
        [source],
    ).fetchall()
    return [r[0] for r in rows]
