"""Files waiting in landing: seen, not complete yet, and for how long.

A landing file that is not complete yet (still being copied, or without its marker file:
`observatory.sources.landing`) is neither loaded nor failed; each ingest run looks at it
again. That is right for a minute, and wrong for a day: a copy that died half-way, or a
provider that never writes the marker, would otherwise go unnoticed until the source
looks stale. So every ingest run records what it saw waiting in `ops.waiting_files`
(when first and last seen, and why), and forgets a file once it is loaded, rejected,
skipped or gone; the monitoring DAG's `waiting` check alerts on a file waiting longer than
`[monitoring] waiting_alert_hours` (`observatory.monitoring.check_waiting`), and
`observatory status` lists them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import duckdb

from observatory.warehouse import table_exists

_DDL = """
create table if not exists ops.waiting_files (
    source_name varchar not null,
    file_path varchar not null,
    first_seen_at timestamptz not null,
    last_seen_at timestamptz not null,
    reason varchar not null
)
"""


def record(
    con: duckdb.DuckDBPyConnection, source_name: str, reports: Iterable[Any], now: dt.datetime
) -> None:
    """Record what one ingest run of a source saw waiting (`BatchReport`s with status
    "waiting"), keeping each file's first sighting, and forget the source's other files."""
    con.execute(_DDL)
    waiting = {str(r.file): str(r.error or "waiting") for r in reports if r.status == "waiting"}
    con.execute("begin transaction")
    try:
        con.execute(
            "delete from ops.waiting_files where source_name = ? "
            "and not list_contains(?::varchar[], file_path)",
            [source_name, sorted(waiting)],
        )
        for path, reason in sorted(waiting.items()):
            (n,) = con.execute(
                "update ops.waiting_files set last_seen_at = ?, reason = ? "
                "where source_name = ? and file_path = ?",
                [now, reason, source_name, path],
            ).fetchall()[0]
            if not n:
                con.execute(
                    "insert into ops.waiting_files values (?, ?, ?, ?, ?)",
                    [source_name, path, now, now, reason],
                )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def waiting_files(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every file waiting now, longest first."""
    if not table_exists(con, "ops", "waiting_files"):
        return []
    rel = con.execute(
        "select source_name, file_path, first_seen_at, last_seen_at, reason "
        "from ops.waiting_files order by first_seen_at, source_name, file_path"
    )
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
