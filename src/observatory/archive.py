"""The raw layer: every landing file archived as it came, under its SHA-256, with a manifest.

A batch's raw rows are the file itself. At commit its bytes are stored once, immutably, as
`<warehouse folder>/archive/<source>/<sha256><suffix>[.zst|.gz]` (compressed when that
saves space: zstd when the `zstd` program is installed, gzip otherwise; Parquet and
already-compressed files are kept as they are), written to a temporary name, synced and
renamed, so a crash leaves either the whole file or none. The ingest starts zstd (a child
process) when the batch starts (`start`) and waits for it just before the batch's
transaction (`PendingArchive.finish`); a batch that fails first stops it and removes its
temporary file (`PendingArchive.cancel`). `raw.files` (created with the
warehouse's bookkeeping tables) lists every archived file (source, original path, hash,
sizes, rows, batch, when), written in the batch's own transaction: a file archived for a
batch that then rolled back is unlisted, and the same bytes arriving again reuse it.

DuckDB reads the archived files directly (it decompresses `.zst` and `.gz` itself), with the
source's own reader, so the rows and row numbers it gives are the batch's: the quarantine
release re-reads its rows from here, and `validated` rows point back with `batch_id` and
`row_number`. `erase_rows` rewrites an archived file without given rows (a respondent's
erasure), under its new hash.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from observatory.sql_util import literal, quote_ident

#: Suffixes of files that compressing again would not shrink.
_COMPRESSED = (".parquet", ".gz", ".zst", ".zip", ".bz2", ".xz")


@dataclass(frozen=True)
class ArchivedFile:
    """One file in the archive."""

    stored_path: Path
    stored_bytes: int
    compression: str | None


def archive_root(con: duckdb.DuckDBPyConnection) -> Path:
    """`<warehouse folder>/archive` for the warehouse `con` is connected to.

    Raises:
        ValueError: `con` is an in-memory database (it has no folder to archive into).
    """
    (path,) = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()[0]
    if not path:
        raise ValueError("the raw archive needs a warehouse file, not an in-memory database")
    return Path(path).resolve().parent / "archive"


def _fsync_replace(tmp: Path, dest: Path) -> None:
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dest)


def _zstd_command(source: Path, tmp: Path) -> list[str] | None:
    """zstd's command line compressing `source` into `tmp`, or None without zstd."""
    zstd = shutil.which("zstd")
    return [zstd, "-q", "-1", "-f", str(source), "-o", str(tmp)] if zstd else None


def _temporary(folder: Path) -> Path:
    fd, name = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    os.close(fd)
    return Path(name)


def _existing(folder: Path, base: str) -> ArchivedFile | None:
    for compression, suffix in (("zstd", ".zst"), ("gzip", ".gz"), (None, "")):
        existing = folder / f"{base}{suffix}"
        if existing.is_file():
            return ArchivedFile(existing, existing.stat().st_size, compression)
    return None


class PendingArchive:
    """A landing file being archived while its batch is worked on (`start`).

    zstd compresses it in a child process from the batch's start; `finish` waits for it
    and puts the file in place (synced, renamed) before the batch's transaction lists it;
    `cancel` (a batch that failed first) stops the child and removes its temporary file,
    so a failed batch leaves nothing behind. Without zstd, or for a file already archived
    or not worth compressing, `finish` does the whole work as `store` did."""

    def __init__(self, root: Path, source_name: str, path: Path, digest: str) -> None:
        self.path, self.folder = path, root / source_name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.base = f"{digest}{''.join(path.suffixes[-1:]).lower()}"
        self.done = _existing(self.folder, self.base)
        self.tmp: Path | None = None
        self.proc: subprocess.Popen | None = None
        if self.done is None and not self.base.endswith(_COMPRESSED):
            self.tmp = _temporary(self.folder)
            command = _zstd_command(path, self.tmp)
            if command:
                try:
                    self.proc = subprocess.Popen(command)  # noqa: S603 (zstd on PATH, fixed args, no shell)
                except BaseException:
                    self.cancel()  # no temporary file left behind
                    raise

    def finish(self) -> ArchivedFile:
        """Wait for the compression, if any, and store the file; the archived file."""
        if self.done is not None:
            return self.done
        try:
            self.done = self._finish()
        finally:
            self.cancel()  # a failure here removes the temporary file too
        return self.done

    def _finish(self) -> ArchivedFile:
        size = self.path.stat().st_size
        if self.tmp is not None:
            if self.proc is not None:
                if self.proc.wait() != 0:
                    raise subprocess.CalledProcessError(self.proc.returncode, self.proc.args)
                method = "zstd"
            else:
                with self.path.open("rb") as src, gzip.open(self.tmp, "wb", compresslevel=1) as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                method = "gzip"
            if self.tmp.stat().st_size < size:
                dest = self.folder / f"{self.base}{'.zst' if method == 'zstd' else '.gz'}"
                _fsync_replace(self.tmp, dest)
                self.tmp = None
                return ArchivedFile(dest, dest.stat().st_size, method)
        name = _temporary(self.folder)
        shutil.copyfile(self.path, name)
        dest = self.folder / self.base
        _fsync_replace(name, dest)
        return ArchivedFile(dest, size, None)

    def cancel(self) -> None:
        """Stop the compression if it still runs and remove its temporary file (no-op
        once `finish` has stored the file)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


def start(root: Path, source_name: str, path: Path, digest: str) -> PendingArchive:
    """Begin archiving `path` (SHA-256 `digest`) under `root`: see `PendingArchive`."""
    return PendingArchive(root, source_name, path, digest)


def store(root: Path, source_name: str, path: Path, digest: str) -> ArchivedFile:
    """Archive `path` (whose SHA-256 is `digest`) under `root`; reuse it if already there."""
    return start(root, source_name, path, digest).finish()


def record(
    con: duckdb.DuckDBPyConnection,
    *,
    source_name: str,
    path: Path,
    digest: str,
    stored: ArchivedFile,
    rows: int,
    batch_id: str,
    archived_at: dt.datetime,
) -> None:
    """Add the manifest row of one archived batch file (inside the batch's transaction)."""
    con.execute("delete from raw.files where batch_id = ?", [batch_id])
    con.execute(
        "insert into raw.files (source_name, original_path, sha256, file_bytes, stored_path, "
        "stored_bytes, compression, rows, batch_id, archived_at) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source_name,
            str(path),
            digest,
            path.stat().st_size,
            str(stored.stored_path),
            stored.stored_bytes,
            stored.compression,
            rows,
            batch_id,
            archived_at,
        ],
    )


def archived_path(con: duckdb.DuckDBPyConnection, batch_id: str) -> Path | None:
    """The archived file of a batch, if the manifest has one and it is on disk."""
    rows = con.execute(
        "select stored_path from raw.files where batch_id = ?", [batch_id]
    ).fetchall()
    if not rows or not Path(rows[0][0]).is_file():
        return None
    return Path(rows[0][0])


def erase_rows(
    con: duckdb.DuckDBPyConnection,
    batch_id: str,
    row_numbers: list[int],
    read_options: dict | None = None,
    *,
    note: str = "erasure",
) -> str | None:
    """Rewrite a batch's archived file without the given rows; return its new SHA-256.

    For an erasure request (a respondent's rows removed from raw, quarantine and
    validated): the file is re-read with the source's reader options, every field of the
    erased rows is emptied, and it is written again in the same format (CSV keeps the
    header and the delimiter; an emptied CSV row is a blank row, which the CSV reader
    counts but never reads as a record, so every other row keeps its row number and the
    lineage of `validated` rows stays true). The new file is stored under its new hash,
    `raw.files` is updated (new hash and sizes, `previous_sha256`, `erased_rows`, `note`)
    and the old file is removed once the update is committed. Rows other than the erased
    ones keep their values as read, not their exact bytes (quoting may differ).

    Runs its own transaction, and removes the old file once it has committed. If the
    caller has a transaction open, it joins it and leaves the old file in place (a rollback
    would otherwise list a file that is gone): call `remove_unlisted` after the commit.

    Returns:
        The new SHA-256, or None when the batch has no archived file (nothing to rewrite).
    """
    from observatory.sources.readers import _READERS, drop_batch_table  # noqa: PLC0415

    old = archived_path(con, batch_id)
    if old is None or not row_numbers:
        return None
    ((source_name, prev_sha, fmt_hint, erased_before),) = con.execute(
        "select source_name, sha256, original_path, erased_rows from raw.files where batch_id = ?",
        [batch_id],
    ).fetchall()
    fmt = _format_of(old)
    # the work table is named by the stored hash (read from data): hex only
    work = f"work.erase_{''.join(ch for ch in prev_sha[:16] if ch in '0123456789abcdef')}"
    con.execute("create schema if not exists work")
    _READERS[fmt](con, old, dict(read_options or {}), work)
    try:
        cols = [
            r[0]
            for r in con.execute(f"describe {work}").fetchall()
            if r[0] not in ("_row_number", "_row_hash")
        ]
        numbers = ", ".join(str(int(n)) for n in sorted(set(row_numbers)))
        fields = ", ".join(
            f"case when _row_number in ({numbers}) then null else {quote_ident(c)} end "
            f"as {quote_ident(c)}"
            for c in cols
        )
        # outside the source's folder, where a file named by its hash would count as stored
        fd, name = tempfile.mkstemp(dir=old.parent.parent, prefix=".erasing-", suffix=f".{fmt}")
        os.close(fd)
        plain = Path(name)
        options = _copy_options(fmt, read_options or {})
        con.execute(
            f"copy (select {fields} from {work} order by _row_number) "  # noqa: S608 (work table hex-named; columns quoted; path literal())
            f"to {literal(str(plain))} ({options})"
        )
    finally:
        drop_batch_table(con, work)
    digest = _sha256(plain)
    suffix = "".join(Path(str(fmt_hint)).suffixes[-1:]).lower() or f".{fmt}"
    plain_bytes = plain.stat().st_size
    named = plain.with_name(f"{digest}{suffix}")
    os.replace(plain, named)
    try:
        stored = store(old.parent.parent, source_name, named, digest)
    finally:
        named.unlink(missing_ok=True)
    own = not _in_transaction(con)
    if own:
        con.execute("begin transaction")
    try:
        con.execute(
            "update raw.files set sha256 = ?, file_bytes = ?, stored_path = ?, stored_bytes = ?, "
            "compression = ?, previous_sha256 = ?, erased_rows = ?, note = ? "
            "where batch_id = ?",
            [
                digest,
                plain_bytes,
                str(stored.stored_path),
                stored.stored_bytes,
                stored.compression,
                prev_sha,
                int(erased_before or 0) + len(set(row_numbers)),
                note,
                batch_id,
            ],
        )
        if own:
            con.execute("commit")
    except Exception:
        if own:
            con.execute("rollback")
        raise
    if own and stored.stored_path != old:
        old.unlink(missing_ok=True)
    return digest


def remove_unlisted(con: duckdb.DuckDBPyConnection) -> list[Path]:
    """Delete archived files that no `raw.files` row lists (e.g. the old file of an erasure
    that ran inside the caller's transaction, once that has committed); return them.
    Temporary files of a write in progress (`.incoming-*`, `.erasing-*`) are left alone."""
    root = archive_root(con)
    listed = {Path(p) for (p,) in con.execute("select stored_path from raw.files").fetchall()}
    removed = []
    for path in sorted(root.glob("*/*")):
        if path.is_file() and not path.name.startswith(".") and path not in listed:
            path.unlink()
            removed.append(path)
    return removed


def _format_of(path: Path) -> str:
    name = path.name.lower().removesuffix(".zst").removesuffix(".gz")
    for fmt in ("parquet", "json", "csv"):
        if name.endswith(f".{fmt}") or (fmt == "json" and name.endswith(".ndjson")):
            return fmt
    return "csv"


def _copy_options(fmt: str, read_options: dict) -> str:
    if fmt == "parquet":
        return "format parquet"
    if fmt == "json":
        return "format json"
    delim = read_options.get("delim") or read_options.get("sep") or read_options.get("delimiter")
    parts = ["format csv", "header true"]
    if delim:
        parts.append(f"delimiter {literal(str(delim))}")
    return ", ".join(parts)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether `con` has a transaction open: in autocommit mode every statement is its own
    transaction, so two statements see two ids (a failed `begin` would abort the caller's)."""
    ids = [con.execute("select txid_current()").fetchall()[0][0] for _ in range(2)]
    return ids[0] == ids[1]


@dataclass(frozen=True)
class Backfill:
    """What `backfill` did: batches archived from their landing file, exported from an old
    `raw.<source>` table, and old tables dropped."""

    from_landing: list[str]
    from_table: list[str]
    dropped_tables: list[str]


def backfill(con: duckdb.DuckDBPyConnection, *, drop_old_tables: bool = False) -> Backfill:
    """Give every loaded file batch of an older warehouse its archived file and manifest row.

    Warehouses from before the archive kept raw rows in `raw.<source>` tables. For each
    loaded batch without a `raw.files` row: its landing file, when it is still there with
    the batch's SHA-256, is archived as it is (exact bytes); otherwise its rows are written
    from `raw.<source>` as CSV (every column as read, in row order, a blank row where the
    file had a row the reader set aside, so row numbers stay those of `validated`), named
    and listed under the batch's original hash, with a note saying the bytes are the
    table's, not the file's. With `drop_old_tables`, a `raw.<source>` table is dropped once
    every batch it holds has its archived file. Safe to run again: done batches are skipped.
    """
    root = archive_root(con)
    todo = con.execute(
        "select b.batch_id, b.source_name, b.file_path, b.file_hash, b.rows_in_file, "
        "coalesce(b.file_bytes, 0) "
        "from ops.batches as b where b.status = 'loaded' and b.batch_id not like '%:release-%' "
        "and not exists (select 1 from raw.files as f where f.batch_id = b.batch_id) "
        "order by b.started_at"
    ).fetchall()
    tables = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'raw' and table_name <> 'files'"
        ).fetchall()
    }
    landed, exported = [], []
    now = dt.datetime.now(dt.UTC)
    for batch in todo:
        batch_id, source_name, file_path, digest, rows, _ = batch
        path = Path(file_path)
        if path.is_file() and _sha256(path) == digest:
            stored = store(root, source_name, path, digest)
            con.execute("begin transaction")
            record(
                con,
                source_name=source_name,
                path=path,
                digest=digest,
                stored=stored,
                rows=rows,
                batch_id=batch_id,
                archived_at=now,
            )
            con.execute("commit")
            landed.append(batch_id)
        elif source_name in tables:
            _export_raw_table(con, root, batch, now)
            exported.append(batch_id)
    dropped = []
    if drop_old_tables:
        for table in sorted(tables):
            (left,) = con.execute(
                f"select count(*) from (select distinct _batch_id from raw.{quote_ident(table)}) "  # noqa: S608 (source table quoted)
                "as r where not exists "
                "(select 1 from raw.files as f where f.batch_id = r._batch_id)"
            ).fetchall()[0]
            if left == 0:
                con.execute(f"drop table raw.{quote_ident(table)}")
                dropped.append(f"raw.{table}")
    return Backfill(landed, exported, dropped)


def _export_raw_table(
    con: duckdb.DuckDBPyConnection, root: Path, batch: tuple, now: dt.datetime
) -> None:
    """Write one batch's rows of `raw.<source>` as a CSV file in the archive and list it."""
    batch_id, source_name, file_path, digest, rows, file_bytes = batch
    table = f"raw.{quote_ident(source_name)}"
    lineage = ("_batch_id", "_source_name", "_file_path", "_file_hash", "_ingested_at")
    cols = [
        r[0]
        for r in con.execute(f"describe {table}").fetchall()
        if r[0] not in (*lineage, "_row_number")
    ]
    fields = ", ".join(f"r.{quote_ident(c)}" for c in cols)
    folder = root / source_name
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{digest}.from-raw-table.csv.zst"
    fd, name = tempfile.mkstemp(dir=root, prefix=".exporting-", suffix=".csv.zst")
    os.close(fd)
    con.execute(
        f"copy (select {fields} from (select unnest(range(1, (select max(_row_number) + 1 "  # noqa: S608 (table and columns quoted; batch id and path escaped by literal())
        f"from {table} where _batch_id = {literal(batch_id)}))) as n) as g "
        f"left join (select * from {table} where _batch_id = {literal(batch_id)}) as r "
        f"on r._row_number = g.n order by g.n) to {literal(name)} "
        "(format csv, header true, compression zstd)"
    )
    _fsync_replace(Path(name), dest)
    con.execute("begin transaction")
    con.execute(
        "insert into raw.files (source_name, original_path, sha256, file_bytes, stored_path, "
        "stored_bytes, compression, rows, batch_id, archived_at, note) "
        "values (?, ?, ?, ?, ?, ?, 'zstd', ?, ?, ?, ?)",
        [
            source_name,
            file_path,
            digest,
            file_bytes,
            str(dest),
            dest.stat().st_size,
            rows,
            batch_id,
            now,
            f"exported from raw.{source_name} (the landing file was gone): the rows as read, "
            "not the file's bytes",
        ],
    )
    con.execute("commit")
