"""Progress of long work: a live bar on a terminal, plain lines in logs and CI.

A city-year backfill (15M sensor readings) or a method validation runs for minutes; this
module lets the work say what it is doing (the file and batch, rows per second, time gone
and time left) without knowing who watches. The work opens a *task* and advances it; the
command line decides how tasks are shown:

- **live**: a `rich` progress bar on stderr, when stderr is a terminal and the command
  does not print `--json`;
- **plain**: a line on stderr at most every `PLAIN_EVERY` seconds and one when a task ends,
  with no cursor movement or colour (a log file, CI, a pipe, or `--json` on stdout);
- **log** (no display set: Airflow tasks, library use): one INFO log line per task.

Nested tasks (the build inside each simulated city of `validate-method`) show as a second
bar that goes when done; in plain and log mode only the outermost task writes lines.

The library is `rich`: it already comes with the command line (typer renders its help
with it), is actively maintained, draws several bars at once, writes to stderr only when
asked to, and lets the caller decide what a terminal is. tqdm would be a second package for
the same job, and its nested bars and custom columns (rows per second beside a bar of
bytes) take more code.

Usage, e.g. for a network build over member cities (the same for every long command):

    with progress.task("network build", total=len(cities), unit="cities") as bar:
        for city in cities:
            bar.update(item=city.id)
            rows = build_member(city)
            bar.advance(1, rows=rows)

Code called inside a task advances it without being handed it: `progress.current()`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

log = logging.getLogger(__name__)

#: Plain mode writes a progress line at most this often (seconds), plus one per task end.
PLAIN_EVERY = 5.0


def _size(value: float, unit: str, total: float | None = None, sep: str = " of ") -> str:
    """`12 files`, `3 of 12 files`, `1.5 of 40.2 MB` (bytes are shown in MB)."""
    if unit == "bytes":
        value, total, unit = value / 1e6, (total / 1e6 if total else total), "MB"
        number = "{:,.1f}"
    else:
        number = "{:,.0f}"
    shown = number.format(value)
    if total:
        shown += sep + number.format(total)
    return f"{shown} {unit}"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class Task:
    """One piece of long work: how much of it is done, and how many rows it has handled."""

    label: str
    total: float | None
    unit: str = "steps"
    depth: int = 0
    done: float = 0.0
    rows: int = 0
    item: str = ""
    started: float = field(default_factory=time.perf_counter)
    _display: _Display | None = None
    _handle: Any = None

    def update(self, *, item: str | None = None, total: float | None = None) -> None:
        """Say what is being worked on now (a file, a batch, a step), or a new total."""
        if item is not None:
            self.item = item
        if total is not None:
            self.total = total
        if self._display:
            self._display.changed(self)

    def add_total(self, amount: float) -> None:
        """Grow the total, for work found on the way (files a fetch has just landed)."""
        self.update(total=(self.total or 0.0) + amount)

    def advance(self, amount: float = 1.0, *, rows: int = 0, item: str | None = None) -> None:
        """Count `amount` more of the total as done, and `rows` more rows as handled."""
        self.done += amount
        self.rows += int(rows)
        self.update(item=item)

    @property
    def elapsed(self) -> float:
        """Seconds since the task began."""
        return time.perf_counter() - self.started

    @property
    def rows_per_second(self) -> float:
        """Rows handled per second so far."""
        return self.rows / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def remaining(self) -> float | None:
        """Seconds left at the rate so far (None until something is done)."""
        if not self.total or self.done <= 0:
            return None
        return max(self.total - self.done, 0.0) * self.elapsed / self.done

    def line(self, finished: bool = False) -> str:
        """The task as one plain line (what plain and log mode print)."""
        amount = _size(self.done, self.unit, self.total)
        parts = [f"{self.label}: {'done, ' if finished else ''}{amount}"]
        if self.rows:
            parts.append(f"{self.rows:,} rows, {self.rows_per_second:,.0f} rows/s")
        parts.append(f"elapsed {_clock(self.elapsed)}")
        if not finished:
            parts.append(f"left {_clock(self.remaining)}")
        text = ", ".join(parts)
        return f"{text} - {self.item}" if self.item and not finished else text


class _Null(Task):
    """The task of code that runs outside any: every call does nothing."""

    def update(self, *, item: str | None = None, total: float | None = None) -> None:
        """Nothing to show."""


class _Display:
    """Where tasks are shown: the base shows them in the log when they end."""

    def opened(self, task: Task) -> None:
        """A task began."""

    def changed(self, task: Task) -> None:
        """A task moved on."""

    def closed(self, task: Task) -> None:
        """A task ended."""
        if task.depth == 0:
            log.info(task.line(finished=True))

    def stop(self) -> None:
        """The command is over."""


class _Plain(_Display):
    def __init__(self, stream: IO[str], every: float) -> None:
        self.stream, self.every = stream, every
        self.last = time.perf_counter()

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self.last = time.perf_counter()

    def changed(self, task: Task) -> None:
        if task.depth == 0 and time.perf_counter() - self.last >= self.every:
            self._write(task.line())

    def closed(self, task: Task) -> None:
        if task.depth == 0:
            self._write(task.line(finished=True))


class _Live(_Display):
    """rich's progress bars on a terminal (stderr), drawn while an outermost task is open.

    Between tasks nothing is drawn, so what a command prints between them stays clean; the
    bar of a finished outermost task stays on screen as its summary.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.bars: Any = None

    def _new_bars(self) -> Any:
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        return Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[amount]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[item]}"),
            console=Console(file=self.stream, force_terminal=True),
            refresh_per_second=8,
            redirect_stdout=False,  # stdout is the command's output, never the bars'
        )

    def _fields(self, task: Task) -> dict[str, Any]:
        amount = _size(task.done, task.unit, task.total, sep="/")
        rate = f"{task.rows:,} rows {task.rows_per_second:,.0f} rows/s" if task.rows else ""
        return {"amount": amount, "rate": rate, "item": task.item[:60]}

    def opened(self, task: Task) -> None:
        if self.bars is None:
            self.bars = self._new_bars()
            self.bars.start()
        task._handle = self.bars.add_task(
            ("  " * task.depth) + task.label, total=task.total, **self._fields(task)
        )

    def changed(self, task: Task) -> None:
        if self.bars is not None:
            self.bars.update(
                task._handle, completed=task.done, total=task.total, **self._fields(task)
            )

    def closed(self, task: Task) -> None:
        if self.bars is None:
            return
        if task.depth:  # a nested task goes when done
            self.bars.remove_task(task._handle)
            return
        fields = {**self._fields(task), "item": "done"}
        self.bars.update(task._handle, completed=task.total or task.done, **fields)
        self.stop()

    def stop(self) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars = None


_DISPLAY: contextvars.ContextVar[_Display | None] = contextvars.ContextVar(
    "observatory_progress_display", default=None
)
_CURRENT: contextvars.ContextVar[Task | None] = contextvars.ContextVar(
    "observatory_progress_task", default=None
)


def is_terminal(stream: IO[str]) -> bool:
    """Whether `stream` is an interactive terminal that can draw a live bar."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def display(
    stream: IO[str] | None = None, *, live: bool | None = None, every: float = PLAIN_EVERY
) -> Iterator[None]:
    """Show the tasks of a command on `stream` (default stderr) while inside this block.

    Args:
        stream: Where progress goes; never stdout, which carries the command's output.
        live: Draw live bars; by default, exactly when `stream` is a terminal.
        every: In plain mode, the least number of seconds between two progress lines.
    """
    stream = stream or sys.stderr
    live = is_terminal(stream) if live is None else live
    shown: _Display = _Live(stream) if live else _Plain(stream, every)
    token = _DISPLAY.set(shown)
    try:
        yield
    finally:
        _DISPLAY.reset(token)
        shown.stop()


@contextlib.contextmanager
def task(label: str, total: float | None = None, unit: str = "steps") -> Iterator[Task]:
    """Open a task of long work, shown as the command's display says (see the module).

    Args:
        label: What the work is (`ingest`, `build`, `network build`).
        total: How much there is to do, in `unit` (None if unknown yet; see `add_total`).
        unit: What `total` counts: `files`, `steps`, `replicates`, or `bytes` (shown as MB).

    Yields:
        The task, also `current()` for code called inside the block.
    """
    outer = _CURRENT.get()
    shown = _DISPLAY.get() or _Display()
    depth = 0 if outer is None or isinstance(outer, _Null) else outer.depth + 1
    opened = Task(label, total, unit, depth=depth, _display=shown)
    shown.opened(opened)
    token = _CURRENT.set(opened)
    try:
        yield opened
    finally:
        _CURRENT.reset(token)
        shown.closed(opened)


def current() -> Task:
    """The innermost open task, or one that ignores every call when none is open."""
    return _CURRENT.get() or _Null("", None)
