"""Progress of long work: live bars on a terminal (a real pty), plain lines elsewhere, and
nothing but JSON on stdout with `--json`."""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from observatory import progress
from observatory.cli import app
from tests.conftest import DemoCity

OBSERVATORY = Path(sys.executable).with_name("observatory")
ESCAPE = re.compile(r"\x1b\[")


class Terminal:
    """A pseudo-terminal of 160 x 40: what is written to `slave` is read from `master`."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the other end is closed
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    def screen(self) -> str:
        """Everything written so far, once the writing end is closed."""
        os.close(self.slave)
        self._reader.join(timeout=10)
        os.close(self.master)
        return b"".join(self._chunks).decode("utf-8", "replace")


def _work(lines: int = 3) -> None:
    with progress.task("ingest survey", 3_000_000, "bytes") as bar:
        for i in range(lines):
            bar.update(item=f"file {i + 1}/{lines} survey_{i}.csv")
            bar.advance(1_000_000, rows=50_000)


def test_plain_lines_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()
    with progress.display(out, every=0.0):
        _work()
    lines = out.getvalue().splitlines()
    assert not ESCAPE.search(out.getvalue()) and "\r" not in out.getvalue()
    assert len(lines) == 7  # one per change (the file, then its rows), and the end
    assert re.fullmatch(
        r"ingest survey: 1\.0 of 3\.0 MB, 50,000 rows, [\d,]+ rows/s, elapsed 0:00, "
        r"left 0:00 - file 1/3 survey_0\.csv",
        lines[1],
    ), lines[1]
    assert lines[-1].startswith("ingest survey: done, 3.0 of 3.0 MB, 150,000 rows")


def test_plain_lines_are_spaced_out() -> None:
    out = io.StringIO()
    with progress.display(out, every=3600.0):
        _work(lines=50)
    assert len(out.getvalue().splitlines()) == 1  # only the closing line within the hour


def test_live_bars_on_a_terminal() -> None:
    term = Terminal()
    with os.fdopen(os.dup(term.slave), "w", encoding="utf-8") as stream:
        with progress.display(stream):  # no `live=`: decided by isatty
            _work()
            with progress.task("build", 10, "steps") as build:
                build.advance(5, item="index.idx_cells")
                with progress.task("nested", 2):
                    pass
    screen = term.screen()
    assert ESCAPE.search(screen), "no terminal control sequences: not drawn live"
    assert "ingest survey" in screen and "150,000 rows" in screen and "rows/s" in screen
    assert "3.0/3.0 MB" in screen and "left" in screen and "build" in screen


def test_without_a_display_tasks_go_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="observatory.progress"):
        with progress.task("outer", 1) as outer:
            with progress.task("inner", 1) as inner:
                inner.advance()
            outer.advance()
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["outer: done"]


def test_code_outside_a_task_can_advance_safely() -> None:
    progress.current().advance(3, rows=10, item="nothing watches")
    assert progress.current().rows == 0


def _fresh_copy(demo_city: DemoCity, tmp_path: Path) -> Path:
    root = tmp_path / "city"
    shutil.copytree(demo_city.root, root, ignore=shutil.ignore_patterns("warehouse"))
    return root / "observatory.toml"


def _run_on_a_terminal(*args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The command with stderr on a terminal and stdout on a pipe."""
    term = Terminal()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"}
    done = subprocess.run(
        [str(OBSERVATORY), *args],
        stdout=subprocess.PIPE,
        stderr=term.slave,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    return done, term.screen()


def test_ingest_draws_bars_on_a_terminal(demo_city: DemoCity, tmp_path: Path) -> None:
    config = _fresh_copy(demo_city, tmp_path)
    done, screen = _run_on_a_terminal("ingest", "-c", str(config), "--source", "incidents_polizia")
    assert done.returncode == 0, screen
    assert ESCAPE.search(screen) and "ingest incidents_polizia" in screen
    assert "rows/s" in screen and "left" in screen
    assert "loaded" in done.stdout and not ESCAPE.search(done.stdout)


def test_json_on_stdout_is_never_mixed_with_progress(demo_city: DemoCity) -> None:
    config = demo_city.root / "observatory.toml"
    done, screen = _run_on_a_terminal("check-config", "-c", str(config), "--json")
    assert done.returncode == 0, screen
    document = json.loads(done.stdout)  # stdout is the JSON document and nothing else
    assert document["valid"] and len(document["sources"]) == len(demo_city.cfg.sources)
    assert not ESCAPE.search(screen), "--json on a terminal must not draw live bars"
    assert "check-config: done, 3 of 3 sources" in screen


def test_export_prints_plain_progress_when_not_a_terminal(demo_copy: DemoCity) -> None:
    result = CliRunner().invoke(app, ["export", "-c", str(demo_copy.root / "observatory.toml")])
    assert result.exit_code == 0, result.output
    assert not ESCAPE.search(result.stderr)
    [line] = [x for x in result.stderr.splitlines() if x.startswith("export: done")]
    assert re.match(r"export: done, (\d+) of \1 files, [\d,]+ rows, [\d,]+ rows/s", line), line
    assert len(result.stdout.splitlines()) == int(line.split()[2])  # one path per file
