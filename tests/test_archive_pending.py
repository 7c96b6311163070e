"""The archive's compression runs beside the batch's DuckDB work (issue 18): started with
the batch, waited for before the transaction that lists it, and stopped, with its
temporary file removed, when the batch fails first."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from observatory import archive, pipeline
from tests.support import query
from tests.test_archive import ROWS, _original_bytes
from tests.test_ingest import NOW, _land, project  # noqa: F401 (fixture)


def _archive_files(cfg) -> list[str]:
    folder = cfg.warehouse_path.parent / "archive"
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def test_failed_batch_leaves_no_archive_file(project) -> None:  # noqa: F811
    cfg = project()
    _land(cfg, "a.csv", "id,when,lat,lon,cat\n1,2025-06-01T10:00:00Z,45.05,7.62,theft\n")
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "failed" and "missing column" in (report.error or "")
    assert _archive_files(cfg) == []  # neither the compressed file nor a temporary one
    assert query(cfg, "select count(*) from raw.files") == [(0,)]
    # the same file fixed: archived and listed as before
    path = _land(cfg, "a.csv", ROWS)
    [report] = pipeline.ingest(cfg, now=NOW)
    assert report.status == "loaded"
    [(stored, compression)] = query(cfg, "select stored_path, compression from raw.files")
    assert _archive_files(cfg) == [Path(stored).name]
    assert _original_bytes(Path(stored), compression) == path.read_bytes()


def _big_file(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "big.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i * 7 % 13}\n" for i in range(200_000)))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_cancel_stops_the_compression_and_removes_its_file(tmp_path: Path) -> None:
    path, digest = _big_file(tmp_path)
    root = tmp_path / "archive"
    pending = archive.start(root, "s", path, digest)
    pending.cancel()
    pending.cancel()  # twice: nothing left to do
    assert list((root / "s").iterdir()) == []


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd not installed")
def test_finish_stores_what_store_stored(tmp_path: Path) -> None:
    path, digest = _big_file(tmp_path)
    root = tmp_path / "archive"
    pending = archive.start(root, "s", path, digest)
    assert pending.proc is not None  # running while the caller works
    stored = pending.finish()
    assert stored == pending.finish()  # finished once
    assert stored.compression == "zstd" and stored.stored_path.name == f"{digest}.csv.zst"
    assert _original_bytes(stored.stored_path, "zstd") == path.read_bytes()
    assert [p.name for p in (root / "s").iterdir()] == [stored.stored_path.name]
    # the same bytes again: the archived file, no process started
    again = archive.start(root, "s", path, digest)
    assert again.proc is None and again.finish() == stored


def test_a_failed_compression_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    path, digest = _big_file(tmp_path)
    root = tmp_path / "archive"
    monkeypatch.setattr(archive, "_zstd_command", lambda source, tmp: ["false"])
    pending = archive.start(root, "s", path, digest)
    with pytest.raises(subprocess.CalledProcessError):
        pending.finish()
    assert list((root / "s").iterdir()) == []


def test_a_compressor_that_cannot_start_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    path, digest = _big_file(tmp_path)
    root = tmp_path / "archive"
    missing = str(tmp_path / "no-such-zstd")
    monkeypatch.setattr(archive, "_zstd_command", lambda source, tmp: [missing])
    with pytest.raises(FileNotFoundError):
        archive.start(root, "s", path, digest)
    assert list((root / "s").iterdir()) == []
