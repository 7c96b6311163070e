"""What analysts ask first: is the warehouse there, and how fresh is each source?"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from observatory.config import Config
from observatory.warehouse import columns_of, connect, table_exists


def _source_status(con: duckdb.DuckDBPyConnection, name: str, kind: str) -> dict[str, Any]:
    rows = con.execute(
        """
        select
            count(*) filter (where status = 'loaded') as batches_loaded,
            count(*) filter (where status = 'failed') as batches_failed,
            coalesce(sum(rows_read) filter (where status = 'loaded'), 0) as rows_read,
            coalesce(sum(rows_accepted) filter (where status = 'loaded'), 0) as rows_accepted,
            coalesce(sum(rows_quarantined) filter (where status = 'loaded'), 0) as rows_quarantined,
            coalesce(sum(rows_non_response) filter (where status = 'loaded'), 0)
                as rows_non_response,
            max(finished_at) filter (where status = 'loaded') as last_ingested_at,
            arg_max(file_path, finished_at) filter (where status = 'loaded') as last_file,
            arg_max(error, finished_at) filter (where status = 'failed') as last_error
        from ops.batches
        where source_name = ?
        """,
        [name],
    ).fetchall()[0]
    keys = (
        "batches_loaded",
        "batches_failed",
        "rows_read",
        "rows_accepted",
        "rows_quarantined",
        "rows_non_response",
        "last_ingested_at",
        "last_file",
        "last_error",
    )
    out: dict[str, Any] = {"source": name, "kind": kind, **dict(zip(keys, rows, strict=True))}
    last = out["last_ingested_at"]
    out["age_hours"] = (
        round((dt.datetime.now(dt.UTC) - last).total_seconds() / 3600, 2) if last else None
    )
    out["last_ingested_at"] = last.isoformat() if last else None
    out["is_reconciled"] = (
        out["rows_read"]
        == out["rows_accepted"] + out["rows_non_response"] + out["rows_quarantined"]
    )
    return out


def status(cfg: Config) -> dict[str, Any]:
    """Warehouse path, and per source: batches, rows, last batch and its age, last error."""
    path: Path = cfg.warehouse_path
    result: dict[str, Any] = {
        "city": cfg.city.id,
        "warehouse": str(path),
        "exists": path.is_file(),
        "sources": [],
    }
    if not path.is_file():
        return result
    con = connect(cfg, read_only=True)
    try:
        if not table_exists(con, "ops", "batches"):
            return result
        result["sources"] = [_source_status(con, s.name, s.kind) for s in cfg.sources]
        held = dict(
            con.execute(
                "select source_name, count(*) from ops.batch_holds where released_at is null "
                "group by 1"
            ).fetchall()
            if table_exists(con, "ops", "batch_holds")
            else []
        )
        for s in result["sources"]:  # loaded but not published (`observatory batches held`)
            s["batches_held"] = held.get(s["source"], 0)
        from observatory.ops.waiting import waiting_files  # noqa: PLC0415

        result["waiting_files"] = [
            {
                "source": w["source_name"],
                "file": w["file_path"],
                "first_seen_at": w["first_seen_at"].isoformat(),
                "last_seen_at": w["last_seen_at"].isoformat(),
                "reason": w["reason"],
            }
            for w in waiting_files(con)
        ]
        if table_exists(con, "marts", "zone_index"):
            zones, periods, latest = con.execute(
                "select count(distinct zone_id), count(distinct period_start), "
                "max(period_start) from marts.zone_index"
            ).fetchall()[0]
            result["marts"] = {
                "zones": zones,
                "periods": periods,
                "latest_period": latest.isoformat() if latest else None,
            }
        failures = con.execute(
            """
            select r.batch_id, r.expectation_type, r.column_name, r.unexpected_count
            from ops.validation_results as r
            join ops.validation_runs as v using (run_id)
            where not r.success
            order by v.validated_at desc, r.unexpected_count desc
            limit 10
            """
        ).fetchall()
        result["latest_failures"] = [
            {"batch_id": b, "expectation": e, "column": c, "unexpected_count": n}
            for b, e, c, n in failures
        ]
    finally:
        con.close()
    return result


#: The fields of `observatory batches --json`, in order (docs/operations.md, "JSON output").
BATCH_FIELDS = (
    "batch_id",
    "source",
    "kind",
    "file",
    "status",
    "rows_read",
    "rows_accepted",
    "rows_quarantined",
    "error",
    "started_at",
    "finished_at",
    "supersedes",
    "superseded_by",
    "withdraw_reason",
)
#: Lineage columns of corrections (`observatory.corrections`): null in older warehouses.
_LINEAGE = ("supersedes", "superseded_by", "withdraw_reason")


def batches(cfg: Config, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest batches (newest first) from ops.batches: what each landing file became.

    Args:
        cfg: The project.
        source: Only this source's batches (its name is checked against the config).
        limit: At most this many.
    """
    if source is not None:
        cfg.source(source)  # an unknown source is a clear error, not an empty list
    if not cfg.warehouse_path.is_file():
        return []
    con = connect(cfg, read_only=True)
    try:
        if not table_exists(con, "ops", "batches"):
            return []
        present = set(columns_of(con, "ops.batches"))
        lineage = ", ".join(c if c in present else f"null as {c}" for c in _LINEAGE)
        rows = con.execute(
            f"""
            select batch_id, source_name, source_kind, file_path, status, rows_read,
                   rows_accepted, rows_quarantined, error, started_at, finished_at, {lineage}
            from ops.batches
            where $source is null or source_name = $source
            order by started_at desc, batch_id
            limit $limit
            """,  # noqa: S608 (columns from code's _LINEAGE list; values bound)
            {"source": source, "limit": int(limit)},
        ).fetchall()
    finally:
        con.close()
    return [dict(zip(BATCH_FIELDS, row, strict=True)) for row in rows]
