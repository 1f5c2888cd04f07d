"""Group commit: concurrent durable writes share one fsync.

A writer applies its batch (WAL written, not yet fsynced), then awaits
``durable()``. One background task runs fsync rounds while anyone waits; a
writer that arrives during a round joins the next one, which starts after its
write and so covers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor


class GroupCommit:
    """Batches fsync requests from one event loop into shared rounds."""

    def __init__(self, sync: Callable[[], None], executor: Executor | None = None) -> None:
        self._sync = sync
        self._executor = executor
        self._next_round: asyncio.Future[None] | None = None
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.waiters = 0

    async def durable(self) -> None:
        """Return once every write applied before this call is fsynced."""
        loop = asyncio.get_running_loop()
        if self._next_round is None:
            self._next_round = loop.create_future()
        round_done = self._next_round
        self.waiters += 1
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._run_rounds())
        await asyncio.shield(round_done)

    async def _run_rounds(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._next_round is not None:
                round_done, self._next_round = self._next_round, None
                try:
                    await loop.run_in_executor(self._executor, self._sync)
                except Exception as exc:  # the waiters must hear of a failed fsync
                    round_done.set_exception(exc)
                else:
                    round_done.set_result(None)
                self.rounds += 1
        finally:
            self._running = False
