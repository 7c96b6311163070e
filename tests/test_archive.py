"""The raw layer as archived landing files (issue 18): stored once under their SHA-256,
listed in raw.files, re-read by the quarantine release, rewritten by an erasure."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import subprocess
from pathlib import Path

import duckdb
import pytest

from observatory import archive, pipeline, release
from observatory.sources.readers import drop_batch_table, load_file
from tests.support import query
from tests.test_ingest import HEADER, NOW, _land, project  # noqa: F401 (fixture)

GOOD = "1,2025-06-01T10:00:00Z,45.05,7.62,theft\n"
ROWS = (
    HEADER
    + GOOD
    + "2,2025-06-01T10:00:00Z,45.5,9.19,theft\n"  # outside the city: quarantined
    + "3,2025-06-02T10:00:00Z,45.05,7.67,theft\n"
    + "4,2025-06-03T10:00:00Z,45.05,7.67,theft\n"
)


def _original_bytes(stored: Path, compression: str | None) -> bytes:
    if compression == "zstd":
        return subprocess.run(["zstd", "-dc", str(stored)], capture_output=True, check=True).stdout
    if compression == "gzip":
        return gzip.decompress(stored.read_bytes())
    return stored.read_bytes()


def test_file_is_archived_once_by_hash_with_its_manifest_row(project) -> None:  # noqa: F811
    cfg = project()
    path = _land(
        cfg,
        "a.csv",
        ROWS * 1 + "".join(f"{i},2025-06-04T10:00:00Z,45.05,7.62,theft\n" for i in range(10, 60)),
    )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    [report] = pipeline.ingest(cfg, now=NOW)
    [(sha, original, nbytes, stored, stored_bytes, compression, rows, batch_id)] = query(
        cfg,
        "select sha256, original_path, file_bytes, stored_path, stored_bytes, compression, "
        "rows, batch_id from raw.files",
    )
    assert (sha, original, nbytes, rows, batch_id) == (
        digest,
        str(path),
        path.stat().st_size,
        report.rows_read,
        report.batch_id,
    )
    stored = Path(stored)
    assert stored.parent == cfg.warehouse_path.parent / "archive" / "police"
    assert stored.name.startswith(digest) and compression in ("zstd", "gzip")
    assert stored_bytes == stored.stat().st_size < nbytes  # compressed: it saved space
    assert _original_bytes(stored, compression) == path.read_bytes()
    # no second copy of the rows as text, no temporary file left behind
    assert query(
        cfg,
        "select count(*) from information_schema.tables where table_schema = 'raw' "
        "and table_name <> 'files'",
    ) == [(0,)]
    assert sorted(p.name for p in stored.parent.iterdir()) == [stored.name]
    # the same bytes under another name: skipped, nothing archived again
    _land(cfg, "copy.csv", path.read_text(encoding="utf-8"))
    pipeline.ingest(cfg, now=NOW)
    assert query(cfg, "select count(*) from raw.files") == [(1,)]
    # lineage: every validated row points to its batch and row in the file
    lineage = query(cfg, "select batch_id, row_number from validated.incidents order by 2")
    assert lineage[:3] == [(batch_id, 1), (batch_id, 3), (batch_id, 4)]
    # the timing of each step is kept (ops.batch_steps)
    steps = dict(
        query(cfg, "select step, seconds from ops.batch_steps where batch_id = ?", [batch_id])
    )
    assert set(steps) == {"read", "conform", "validate", "flag", "archive", "append", "commit"}
    assert all(s >= 0 for s in steps.values())


def test_release_reads_its_rows_from_the_archive(project) -> None:  # noqa: F811
    cfg = project()
    path = _land(cfg, "a.csv", ROWS)
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.rows_quarantined == 1
    path.unlink()  # the landing file is gone: the archive is the raw layer
    with duckdb.connect(str(cfg.warehouse_path)) as con:
        # the quarantine's own copy of the row no longer says what the file said
        con.execute('update quarantine.incidents set raw_row = \'{"id": "tampered"}\'')
    again = release.release(cfg, "police", now=NOW)
    assert (again.rows_read, again.rows_accepted, again.rows_quarantined) == (1, 0, 1)
    [(raw_row, reason)] = query(
        cfg,
        "select raw_row, reason from quarantine.incidents where batch_id = ?",
        [again.batch_id],
    )
    assert '"id":"2"' in raw_row.replace(" ", "") and '"lat":"45.5"' in raw_row.replace(" ", "")
    assert "tampered" not in raw_row


def test_erase_rows_rewrites_the_archived_file_under_a_new_hash(project) -> None:  # noqa: F811
    cfg = project()
    _land(cfg, "a.csv", ROWS)
    [report] = pipeline.ingest(cfg, now=NOW)
    [(old_sha, old_path)] = query(cfg, "select sha256, stored_path from raw.files")
    with duckdb.connect(str(cfg.warehouse_path)) as con:
        new_sha = archive.erase_rows(con, report.batch_id, [3], note="erasure request 7")
        [(sha, stored, prev, erased, note, nbytes)] = con.execute(
            "select sha256, stored_path, previous_sha256, erased_rows, note, file_bytes "
            "from raw.files"
        ).fetchall()
        assert (sha, prev, erased, note) == (new_sha, old_sha, 1, "erasure request 7")
        assert new_sha != old_sha and not Path(old_path).exists() and Path(stored).is_file()
        assert Path(stored).name.startswith(new_sha)
        # the rewritten file: row 3 is gone, every other row keeps its number and values
        load_file(con, "csv", Path(stored), {}, "work.erased")
        rows = con.execute("select _row_number, id, lat from work.erased order by 1").fetchall()
        drop_batch_table(con, "work.erased")
        assert rows == [(1, "1", "45.05"), (2, "2", "45.5"), (4, "4", "45.05")]
        compression = con.execute("select compression from raw.files").fetchall()[0][0]
        plain = _original_bytes(Path(stored), compression)
        assert hashlib.sha256(plain).hexdigest() == new_sha and len(plain) == nbytes
        assert b"2025-06-02" not in plain
        # nothing to rewrite for a batch without an archived file
        assert archive.erase_rows(con, "police:unknown", [1]) is None
        # inside the caller's transaction the old file stays until the caller commits
        con.execute("begin transaction")
        third = archive.erase_rows(con, report.batch_id, [4])
        assert Path(stored).is_file()  # not removed yet
        con.execute("rollback")  # the manifest still lists the file it had
        assert con.execute("select sha256 from raw.files").fetchall() == [(new_sha,)]
        assert third != new_sha and archive.remove_unlisted(con) != []  # the unlisted new file
        assert [p.name for p in Path(stored).parent.iterdir()] == [Path(stored).name]


def test_in_memory_database_has_no_archive() -> None:
    with duckdb.connect() as con, pytest.raises(ValueError, match="warehouse file"):
        archive.archive_root(con)


def test_archived_at_is_the_batch_time(project) -> None:  # noqa: F811
    cfg = project()
    _land(cfg, "a.csv", ROWS)
    before = dt.datetime.now(dt.UTC)
    pipeline.ingest(cfg, now=NOW)
    [(at,)] = query(cfg, "select archived_at from raw.files")
    assert before <= at <= dt.datetime.now(dt.UTC)


def test_backfill_archives_an_older_warehouse(project) -> None:  # noqa: F811
    """A warehouse from before the archive: raw rows in raw.police, no raw.files rows."""
    cfg = project()
    kept = _land(cfg, "a.csv", ROWS)
    gone = _land(
        cfg,
        "b.csv",
        HEADER + "9,2025-06-05T10:00:00Z,45.05,7.62,theft\n,,,,\n" + GOOD.replace("1,", "10,", 1),
    )
    reports = pipeline.ingest(cfg, now=NOW)
    with duckdb.connect(str(cfg.warehouse_path)) as con:
        # what the old ingest wrote: every row as read, with lineage columns
        for report, path in zip(reports, (kept, gone), strict=True):
            load_file(con, "csv", path, {}, "work.old")
            made = "insert into raw.police" if path is gone else "create table raw.police as"
            con.execute(
                f"{made} select ? as _batch_id, 'police' as _source_name, ? as _file_path, "
                "'' as _file_hash, now() as _ingested_at, * exclude (_row_hash) from work.old",
                [report.batch_id, str(path)],
            )
            drop_batch_table(con, "work.old")
        for (stored,) in con.execute("select stored_path from raw.files").fetchall():
            Path(stored).unlink()
        con.execute("delete from raw.files")
        gone.unlink()
        done = archive.backfill(con, drop_old_tables=True)
        assert (done.from_landing, done.from_table) == (
            [reports[0].batch_id],
            [reports[1].batch_id],
        )
        assert done.dropped_tables == ["raw.police"]
        # the exported file reads back with the rows and row numbers validated points to
        exported = archive.archived_path(con, reports[1].batch_id)
        assert exported is not None and exported.name.endswith(".from-raw-table.csv.zst")
        load_file(con, "csv", exported, {}, "work.back")
        rows = con.execute("select _row_number, id from work.back order by 1").fetchall()
        drop_batch_table(con, "work.back")
        assert rows == [(1, "9"), (3, "10")]  # row 2 was a blank row of the file
        lineage = con.execute(
            "select row_number from validated.incidents where batch_id = ? order by 1",
            [reports[1].batch_id],
        ).fetchall()
        assert lineage == [(1,), (3,)]
        # again: nothing left to do
        assert archive.backfill(con) == archive.Backfill([], [], [])
