"""Landing files: which files of a source are there, and which are complete enough to read.

A file being copied into the landing folder must not be ingested half-written: a reading
cut to `1` (really `11.0`) would be accepted, and the whole file, arriving later, would
then be a "changed file". A source says when a file is complete (`completion`):

- "settle" (the default): its size and modification time have stayed the same for
  `settle_seconds`, and did not change while it was hashed and read;
- "marker": a marker file beside it says so (`{name}.done` per file, or `_SUCCESS` for
  the folder), and the file was not changed after its marker.

A file that is not complete is *waiting*: it is neither loaded nor failed, and the next
run looks at it again (docs/operations.md, "Landing files").
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import time
from dataclasses import dataclass
from pathlib import Path

from observatory.config import Config, SourceConfig
from observatory.sources.readers import BatchError


class FileStillChanging(BatchError):
    """The file changed while it was being ingested: it is still being written."""


@dataclass(frozen=True)
class FileState:
    """What the file system says of a file: enough to tell that it changed."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileState:
        """The file's size and modification time now."""
        stat = path.stat()
        return cls(stat.st_size, stat.st_mtime_ns)


def marker_path(src: SourceConfig, path: Path) -> Path:
    """The marker file that says `path` is complete (`completion = "marker"`)."""
    return path.parent / src.marker.replace("{name}", path.name)


def landing_files(cfg: Config, src: SourceConfig) -> list[Path]:
    """Files matching a source's glob, sorted (so batches load in a stable order); the
    source's own marker files are not data."""
    pattern = str(cfg.resolve(src.path))
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if src.completion != "marker":
        return files
    markers = {marker_path(src, p) for p in files}
    return [p for p in files if p not in markers]


def waiting_reason(src: SourceConfig, path: Path, wall_clock: float | None = None) -> str | None:
    """Why `path` is not complete yet (None: it is complete and can be read).

    Args:
        src: the source, whose `completion` rule applies.
        path: a landing file of it.
        wall_clock: the time now (seconds since the epoch; tests pass it).
    """
    now = time.time() if wall_clock is None else wall_clock
    state = os.stat(path)
    if src.completion == "marker":
        marker = marker_path(src, path)
        if not marker.is_file():
            return f"{path}: waiting for its marker file {marker.name} (completion = 'marker')"
        if state.st_mtime_ns > marker.stat().st_mtime_ns:
            return (
                f"{path}: changed after its marker {marker.name}: waiting for a new marker "
                "(completion = 'marker')"
            )
        return None
    age = now - state.st_mtime
    if age < src.settle_seconds:
        changed = dt.datetime.fromtimestamp(state.st_mtime, dt.UTC).strftime("%H:%M:%S UTC")
        return (
            f"{path}: changed {age:.0f} s ago (at {changed}), less than settle_seconds = "
            f"{src.settle_seconds:g}: waiting until it has been left alone that long"
        )
    return None


def check_unchanged(path: Path, before: FileState) -> None:
    """Raise FileStillChanging if `path` changed since `before` (taken before hashing).

    Raises:
        FileStillChanging: the file's size or modification time differ, or it is gone.
    """
    try:
        after = FileState.of(path)
    except FileNotFoundError:
        raise FileStillChanging(f"{path}: removed while it was being read: waiting") from None
    if after != before:
        raise FileStillChanging(
            f"{path}: changed while it was being read ({before.size:,} -> {after.size:,} "
            "bytes): still being written, waiting for the next run"
        )
