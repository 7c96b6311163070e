"""Readers: turn one landing file into a loosely typed DuckDB table (every column VARCHAR).

A reader is one small function `(con, path, options, target) -> None` that creates `target`
(a table or a view) with the file's columns as text plus `_row_number` and `_row_hash` (of
the row as read).
CSV, JSON and Parquet use DuckDB's own columnar readers; a new format or protocol registers
a function here (or through the `observatory.readers` entry point group).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from observatory.sources.plugins import PluginNotFound, load_plugin
from observatory.sql_util import literal, quote_ident

log = logging.getLogger(__name__)

Reader = Callable[[duckdb.DuckDBPyConnection, Path, dict[str, Any], str], None]


class BatchError(Exception):
    """A whole file cannot be ingested (unreadable, wrong encoding, missing columns, empty)."""


def _options_sql(options: dict[str, Any]) -> str:
    return "".join(f", {quote_ident(k)} = {literal(v)}" for k, v in sorted(options.items()))


def _materialise(con: duckdb.DuckDBPyConnection, relation_sql: str, target: str) -> None:
    # Every column as text: the raw layer keeps what the file said, typing happens in the
    # mapping, where a value that does not parse becomes a quarantine reason, not a crash.
    # The file's rows go to `<target>__file` in file order; `target` is a view adding the
    # row number (the rowid: numbering with a window cost as much again as reading) and the
    # row's hash (not its JSON, which would double the cost of reading), which tells exact
    # copies apart. The JSON of a row is built only when it is quarantined.
    con.execute(
        f"create or replace table {target}__file as "
        f"select columns(*)::varchar from ({relation_sql})"
    )
    con.execute(
        f"create or replace view {target} as select rowid + 1 as _row_number, "
        f"hash(file_row) as _row_hash, file_row.* from {target}__file as file_row"
    )


def drop_batch_table(con: duckdb.DuckDBPyConnection, target: str) -> None:
    """Drop what a reader made for `target` (a table, or a view over `<target>__file`)."""
    for kind in ("view", "table"):
        try:
            con.execute(f"drop {kind} if exists {target}")
        except duckdb.CatalogException:
            pass  # `target` is the other kind
    con.execute(f"drop table if exists {target}__file")


def read_csv(
    con: duckdb.DuckDBPyConnection, path: Path, options: dict[str, Any], target: str
) -> None:
    """Read a delimited text file with DuckDB's CSV reader, every column as text."""
    opts = {"header": True, **options}
    _materialise(
        con,
        f"select * from read_csv({literal(str(path))}, all_varchar = true{_options_sql(opts)})",
        target,
    )
    # Trailing blank lines come through as rows of NULLs: they are not records.
    data_cols = [r[0] for r in con.execute(f"describe {target}__file").fetchall()]
    if data_cols:
        all_null = " and ".join(f"nullif(trim({quote_ident(c)}), '') is null" for c in data_cols)
        con.execute(f"delete from {target}__file where {all_null}")


def read_json(
    con: duckdb.DuckDBPyConnection, path: Path, options: dict[str, Any], target: str
) -> None:
    """Read JSON (an array of records or newline-delimited) with DuckDB's JSON reader."""
    _materialise(
        con, f"select * from read_json({literal(str(path))}{_options_sql(options)})", target
    )


def read_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, options: dict[str, Any], target: str
) -> None:
    """Read a Parquet file."""
    _materialise(con, f"select * from read_parquet({literal(str(path))})", target)


_READERS: dict[str, Reader] = {"csv": read_csv, "json": read_json, "parquet": read_parquet}


def get_reader(fmt: str) -> Reader:
    """The reader for a format: built in, or registered under `observatory.readers`."""
    try:
        reader: Reader = load_plugin("observatory.readers", fmt, _READERS)
    except PluginNotFound as exc:
        raise BatchError(str(exc)) from None
    return reader


def load_file(
    con: duckdb.DuckDBPyConnection, fmt: str, path: Path, options: dict[str, Any], target: str
) -> int:
    """Read `path` into the work table `target`; return the number of rows read.

    Raises:
        BatchError: the file cannot be read as `fmt`; the message names the file and the cause.
    """
    reader = get_reader(fmt)
    try:
        reader(con, path, options, target)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise BatchError(f"{path}: cannot be read as {fmt}: {first}") from exc
    (rows,) = con.execute(f"select count(*) from {target}").fetchall()[0]
    if rows == 0:
        raise BatchError(f"{path}: the file has no data rows")
    return int(rows)
