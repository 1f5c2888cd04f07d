"""Progress bars for long commands: one bar per stage, and the total time at the end.

Long work elsewhere (the sample-network loader in ``manhattan.services``, a
snapshot on every node) reports through one plain callback,
``on_progress(stage, done, total)``, so it needs nothing from rich or click; the
first report of a stage adds its bar, later ones move it. Bars go to stderr, so
stdout stays what the command prints (and ``-o json`` stays clean).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn,
    TimeElapsedColumn,
)

OnProgress = Callable[[str, int, int], None]


class StageProgress:
    """``with StageProgress("demo") as progress: work(on_progress=progress)``."""

    def __init__(self, title: str, *, quiet: bool = False,
                 console: Console | None = None) -> None:
        self.title = title
        self.console = console or Console(stderr=True, quiet=quiet)
        self._bars = Progress(SpinnerColumn(finished_text="✓"),
                              TextColumn("{task.description:<14}"), BarColumn(bar_width=30),
                              MofNCompleteColumn(), TimeElapsedColumn(),
                              console=self.console, transient=False)
        self._tasks: dict[str, TaskID] = {}
        self._started = 0.0
        self.elapsed_s = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Report ``done`` of ``total`` for ``stage`` (a new stage finishes the last one)."""
        task = self._tasks.get(stage)
        if task is None:
            for earlier in self._tasks.values():  # stages run in order: the last one is done
                self._bars.update(earlier, completed=self._total(earlier))
            task = self._tasks[stage] = self._bars.add_task(stage, total=max(total, 1))
        self._bars.update(task, completed=min(done, max(total, 1)), total=max(total, 1))

    def finish(self, stage: str) -> None:
        """Mark ``stage`` complete (also when it reported nothing, e.g. already done)."""
        if stage not in self._tasks:
            self(stage, 1, 1)
        task = self._tasks[stage]
        self._bars.update(task, completed=self._total(task))

    def _total(self, task: TaskID) -> float:
        return next(t.total or 1 for t in self._bars.tasks if t.id == task)

    def __enter__(self) -> "StageProgress":
        self._started = time.monotonic()
        self._bars.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bars.stop()
        self.elapsed_s = time.monotonic() - self._started
        if exc_type is None:
            self.console.print(f"{self.title}: done in {self.elapsed_s:.1f} s")
