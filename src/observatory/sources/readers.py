"""Readers: turn one landing file into a loosely typed DuckDB table (every column VARCHAR).

A reader is one small function `(con, path, options, target) -> None` that creates `target`
(a table or a view) with the file's columns as text plus `_row_number` and `_row_hash` (of
the row as read).
CSV, JSON and Parquet use DuckDB's own columnar readers; a new format or protocol registers
a function here (or through the `observatory.readers` entry point group).
"""

from __future__ import annotations

import logging
import re
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


def trimmed(expr: str) -> str:
    """SQL: `trim(expr)`, skipped where it cannot change the text.

    DuckDB's `trim` strips Unicode space separators (U+0020, U+00A0, U+3000, ...), all of
    them non-ASCII but the space: an ASCII value without a space at either end is already
    trimmed. Testing that costs a fifth of `trim` itself, which on a 1.28M-row sensor
    batch was 0.2 s of CPU per column (tests/test_mapping.py checks every code point)."""
    return (
        f"(case when {expr} like ' %' or {expr} like '% ' or strlen({expr}) <> length({expr}) "
        f"then trim({expr}) else {expr} end)"
    )


def literal_path(path: Path) -> str:
    """SQL literal of a file name that DuckDB's readers take as that one file, never a glob.

    DuckDB expands `*`, `?` and `[...]` in a reader's path, so a landing file called
    `segnalazioni_*.csv` would also read every monthly file beside it. Each such character
    is written as a one-character class (`[*]`), which matches only itself.
    """
    return literal(re.sub(r"([*?\[])", r"[\1]", str(path)))


#: A column DuckDB reserves: a file column of that name hides the table's row ids.
_ROWID = "rowid"
_FILE_ROWID = "__file_rowid"


def _materialise(con: duckdb.DuckDBPyConnection, relation_sql: str, target: str) -> None:
    # Every column as text: the raw layer keeps what the file said, typing happens in the
    # mapping, where a value that does not parse becomes a quarantine reason, not a crash.
    # The file's rows go to `<target>__file` in file order; `target` is a view adding the
    # row number (the rowid: numbering with a window cost as much again as reading) and the
    # row's hash (not its JSON, which would double the cost of reading), which tells exact
    # copies apart. The JSON of a row is built only when it is quarantined.
    # A file column called `rowid` (in any case) would hide the row ids: it is renamed in
    # the table and given its name back in the view.
    con.execute(
        f"create or replace table {target}__file as "  # noqa: S608 (work table named in code; reader SQL built with literal())
        f"select columns(*)::varchar from ({relation_sql})"
    )
    named_rowid = [c for c in _file_columns(con, target) if c.lower() == _ROWID]
    star = "file_row.*"
    if named_rowid:
        con.execute(
            f"alter table {target}__file rename column {quote_ident(named_rowid[0])} "
            f"to {_FILE_ROWID}"
        )
        star = f"file_row.* rename ({_FILE_ROWID} as {quote_ident(named_rowid[0])})"
    con.execute(
        f"create or replace view {target} as select rowid + 1 as _row_number, "  # noqa: S608 (work table named in code; rowid column quoted)
        f"hash(file_row) as _row_hash, {star} from {target}__file as file_row"
    )


def _file_columns(con: duckdb.DuckDBPyConnection, target: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe {target}__file").fetchall()]


def blank_rows(con: duckdb.DuckDBPyConnection, target: str) -> int:
    """How many all-blank rows (only delimiters or spaces) the reader set aside for `target`:
    they are not records, but they were read, so the batch counts them (`rows_blank`)."""
    try:
        (n,) = con.execute(f"select n from {target}__blank").fetchall()[0]  # noqa: S608 (work table named in code)
    except duckdb.CatalogException:
        return 0
    return int(n)


def drop_batch_table(con: duckdb.DuckDBPyConnection, target: str) -> None:
    """Drop what a reader made for `target` (a table, or a view over `<target>__file`)."""
    for kind in ("view", "table"):
        try:
            con.execute(f"drop {kind} if exists {target}")
        except duckdb.CatalogException:
            pass  # `target` is the other kind
    con.execute(f"drop table if exists {target}__file")
    con.execute(f"drop table if exists {target}__blank")


def read_csv(
    con: duckdb.DuckDBPyConnection, path: Path, options: dict[str, Any], target: str
) -> None:
    """Read a delimited text file with DuckDB's CSV reader, every column as text."""
    # `skip = 0` unless the source says otherwise: DuckDB's sniffer may otherwise take a
    # ragged row as the header and silently drop every line before it.
    opts = {"header": True, "skip": 0, **options}
    _materialise(
        con,
        f"select * from read_csv({literal_path(path)}, all_varchar = true{_options_sql(opts)})",  # noqa: S608 (path and options escaped by literal_path()/literal(), keys quoted)
        target,
    )
    # A line of only delimiters or spaces (a spreadsheet's empty row) comes through as a row
    # of NULLs: not a record, so it is set aside, but counted, wherever it is in the file.
    # (Empty lines, with no character at all, DuckDB's reader skips itself.)
    # One statement: the delete says how many rows it removed.
    data_cols = _file_columns(con, target)
    if data_cols:
        all_null = " and ".join(f"nullif({trimmed(quote_ident(c))}, '') is null" for c in data_cols)
        (n,) = con.execute(f"delete from {target}__file where {all_null}").fetchone()  # noqa: S608 (work table named in code; columns quoted)
        con.execute(f"create or replace table {target}__blank as select ?::bigint as n", [n])


def read_json(
    con: duckdb.DuckDBPyConnection, path: Path, options: dict[str, Any], target: str
) -> None:
    """Read JSON (an array of records or newline-delimited) with DuckDB's JSON reader."""
    _materialise(
        con,
        f"select * from read_json({literal_path(path)}{_options_sql(options)})",  # noqa: S608 (path and options escaped by literal_path()/literal(), keys quoted)
        target,
    )


def read_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, options: dict[str, Any], target: str
) -> None:
    """Read a Parquet file."""
    _materialise(con, f"select * from read_parquet({literal_path(path)})", target)  # noqa: S608 (path escaped by literal_path())


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
        cause = duckdb_message(exc)
        hint = _read_hint(path, cause)
        raise BatchError(
            f"{path}: cannot be read as {fmt}: {cause}" + (f" Hint: {hint}" if hint else "")
        ) from exc
    (rows,) = con.execute(f"select count(*) from {target}").fetchall()[0]  # noqa: S608 (work table named in code)
    if rows == 0:
        raise BatchError(f"{path}: the file has no data rows")
    return int(rows)


#: Lines of a DuckDB error that are not its cause: the reader's option dump (`  file = ...`),
#: the SQL it ran (`LINE 1: ...` and its caret), DuckDB's own suggestions (option names of
#: its SQL, not of the project file: the hint below says what to write there).
_NOISE = re.compile(r"^(\s+\S+ = |LINE \d+:|\s*\^+\s*$|Possible Solution:)")
#: How much of the offending line an error keeps (a 5 MB field is not worth repeating).
_LINE_SHOWN = 120


def duckdb_message(exc: BaseException) -> str:
    """A DuckDB error as one line with its cause: every line of the message that explains
    it (the first line alone is often just "CSV Error on Line: 2"), the offending line cut
    to its first characters, and without the reader's option dump or the SQL it ran."""
    parts = []
    for raw in str(exc).splitlines():
        line = raw.rstrip()
        if not line.strip() or _NOISE.match(line):
            continue
        if line.startswith("Original Line:"):
            shown = line[len("Original Line:") :].strip()
            more = f"... ({len(shown):,} characters)" if len(shown) > _LINE_SHOWN else ""
            line = f"(the line: {shown[:_LINE_SHOWN]!r}{more})"
        parts.append(line.strip())
    return " ".join(parts) or type(exc).__name__


_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}


def _read_hint(path: Path, cause: str) -> str:
    """What to change in the project file (or the file) for the usual unreadable files:
    compressed, another encoding, or a line longer than the reader's limit."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return ""
    return _compression_hint(head) or _encoding_hint(head, cause) or _line_size_hint(cause)


def _compression_hint(head: bytes) -> str:
    compression = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
    if compression == "zip":
        return "the file is a zip archive: unzip it into the landing folder."
    if compression is None:
        return ""
    extension = "gz" if compression == "gzip" else compression
    return (
        f"the file is {compression}-compressed: give it the .{extension} extension, or set "
        f'`read = {{ compression = "{compression}" }}` on the source.'
    )


def _encoding_hint(head: bytes, cause: str) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:200].count(b"\x00") > 10:
        return 'the file looks UTF-16 encoded: set `read = { encoding = "utf-16" }` on the source.'
    if "not utf-8 encoded" in cause.lower() or "invalid unicode" in cause.lower():
        return (
            'the file is not UTF-8: set `read = { encoding = "latin-1" }` on the source '
            "(Windows and older exports), or re-save the file as UTF-8."
        )
    return ""


def _line_size_hint(cause: str) -> str:
    if "maximum line size" not in cause.lower():
        return ""
    size = re.search(r"Actual Size:\s*([\d,]+)", cause)
    needed = f"{int(size.group(1).replace(',', '')) + 1024}" if size else "<bytes>"
    return (
        f"a line is longer than the reader's limit: set `read = {{ max_line_size = {needed} }}` "
        "on the source if the field is real; a field this long is more often an unclosed quote."
    )
