"""Where long work is: a plan first, then one progress display, plain lines in logs.

On a terminal one status line is redrawn in place (stage, done/total, elapsed/budget, ETA) and
finished steps (e.g. validations) print above it. When the stream is not a terminal (a log
file, a pipe, CI) nothing is redrawn: each finished step is one plain line, so a log holds one
line per validation instead of carriage-return redraws.

ETA = the smaller of the time left in the budget and elapsed x (total - done) / done.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

REDRAW_SECONDS = 0.25  # a terminal line is redrawn at most this often


def clock_text(seconds: float | None) -> str:
    """Seconds as m:ss or h:mm:ss ("?" when unknown)."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def print_plan(items: dict[str, str], stream: TextIO | None = None) -> None:
    """The plan of a long command, before it starts: one `name: value` line each."""
    stream = stream or sys.stderr
    width = max(len(k) for k in items) + 1
    for name, value in items.items():
        print(f"{name + ':':<{width}} {value}", file=stream)
    stream.flush()


class Progress:
    """One progress display for a stage of long work.

    `total`: the units of work or None, `unit` their name ("epoch"); `budget_seconds`: the time
    budget measured by `clock` (wall or CPU time) from `started` (default: now), or None;
    `enabled=False` prints nothing at all.
    """

    def __init__(
        self,
        stage: str,
        total: float | None = None,
        unit: str = "",
        budget_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        stream: TextIO | None = None,
        enabled: bool = True,
        terminal: bool | None = None,
        started: float | None = None,
    ):
        self.stage = stage
        self.total = total
        self.unit = unit
        self.budget_seconds = budget_seconds
        self.clock = clock
        self.stream = stream or sys.stderr
        self.enabled = enabled
        if terminal is None:
            terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.terminal = terminal
        self.started = clock() if started is None else started
        self.done = 0.0
        self.status = ""
        self._drawn = 0  # characters of the status line currently on screen
        self._last_draw = -float("inf")

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def eta(self) -> float | None:
        """Seconds left: by the budget, by the pace so far, whichever ends first."""
        left = []
        if self.budget_seconds is not None:
            left.append(max(self.budget_seconds - self.elapsed, 0.0))
        if self.total and self.done > 0:
            left.append(self.elapsed * max(self.total - self.done, 0.0) / self.done)
        return min(left) if left else None

    def timing(self) -> str:
        budget = f"/{clock_text(self.budget_seconds)}" if self.budget_seconds is not None else ""
        return f"{clock_text(self.elapsed)}{budget} ETA {clock_text(self.eta())}"

    def _count(self) -> str:
        """': epoch 3/200': the step in progress, or the last one finished."""
        if self.total is None:
            return ""
        done = int(self.done) if float(self.done).is_integer() else f"{self.done:.1f}"
        total = int(self.total) if float(self.total).is_integer() else self.total
        return f": {self.unit + ' ' if self.unit else ''}{done}/{total}"

    def update(self, done: float | None = None, status: str = "") -> None:
        """Record progress; on a terminal redraw the status line (throttled)."""
        if done is not None:
            self.done = done
        if status:
            self.status = status
        if not (self.enabled and self.terminal):
            return
        now = time.monotonic()
        if now - self._last_draw < REDRAW_SECONDS:
            return
        self._last_draw = now
        self._draw()

    def _draw(self) -> None:
        text = f"{self.stage}{self._count()}  {self.timing()}"
        if self.status:
            text += f"  {self.status}"
        self.stream.write("\r" + text.ljust(self._drawn))
        self.stream.flush()
        self._drawn = len(text)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self._drawn = 0

    def line(self, text: str) -> None:
        """A finished step: one plain line (above the status line on a terminal)."""
        if not self.enabled:
            return
        if self.terminal:
            self._clear()
        print(f"{self.stage}{self._count()}  {text}  [{self.timing()}]", file=self.stream)
        self.stream.flush()
        if self.terminal:
            self._draw()

    def close(self) -> None:
        if self.enabled and self.terminal:
            self._clear()
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
