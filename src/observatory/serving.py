"""The serving copy: the marts in a DuckDB file of their own, for BI tools to open.

A BI tool holding the warehouse open, even read-only, takes DuckDB's file lock and blocks
every ingest and build until it lets go. So after each successful build the marts are
copied into a new DuckDB file beside the serving path, which is then renamed over it in
one `os.replace`. A reader that has the old file open keeps reading the old build (on
POSIX it holds the old inode); a reader that opens the path afterwards sees the new one;
nobody ever sees half a copy, and nothing a reader does can lock the warehouse.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import duckdb

from observatory.config import Config
from observatory.sql_util import literal, quote_ident
from observatory.warehouse import table_exists

log = logging.getLogger(__name__)

#: What the serving file holds besides the marts: the zones BI tools draw.
_REFERENCE_TABLES = (("ref", "zones"),)


def _marts(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "and table_catalog = current_database() order by table_name"
        ).fetchall()
    ]


def publish_serving(cfg: Config, con: duckdb.DuckDBPyConnection) -> Path:
    """Copy every mart (and ref.zones) into a new DuckDB file and rename it over
    `cfg.serving_path` in one step (the module docstring says why).

    Args:
        cfg: the project (its `serving_path` is the file BI tools open).
        con: a connection to the warehouse, after the build committed.

    Returns:
        The serving file.
    """
    final = cfg.serving_path
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    Path(f"{tmp}.wal").unlink(missing_ok=True)
    alias = "serving_new"
    con.execute(f"attach {literal(str(tmp))} as {alias}")
    try:
        con.execute(f"create schema {alias}.marts")
        for mart in _marts(con):
            con.execute(
                f"create table {alias}.marts.{quote_ident(mart)} as "  # noqa: S608 (fixed alias; mart names quoted)
                f"select * from marts.{quote_ident(mart)}"
            )
        for schema, table in _REFERENCE_TABLES:
            if table_exists(con, schema, table):
                con.execute(f"create schema if not exists {alias}.{schema}")
                con.execute(
                    f"create table {alias}.{schema}.{table} as select * from {schema}.{table}"  # noqa: S608 (fixed alias; schemas and tables from code)
                )
    except BaseException:
        con.execute(f"detach {alias}")
        tmp.unlink(missing_ok=True)
        raise
    con.execute(f"detach {alias}")  # checkpoints: the file is whole, with no WAL beside it
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    log.info("serving copy %s replaced", final)
    return final
