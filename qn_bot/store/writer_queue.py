"""The queue of SQLite writers: first come, first served — but urgent writers first.

SQLite has one writer at a time and its busy handler is not fair (measured: p99 4 s with 50
citizens), so the store queues its own writers here. A few writes gate everything that follows
them: the Telegram poller journals each batch of updates before it may ask for the next one, so
every citizen's message waited behind whatever transactions were queued (measured: journal
write p95 30–110 ms under 100 citizens, most of it queueing). Those go to the head of the
queue; they are tiny, so the others wait at most one of them more.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriterQueue:
    def __init__(self) -> None:
        self._busy = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def turn(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """Wait for this writer's turn; hold it for the ``async with`` block."""
        if self._busy or self._urgent or self._normal:
            waiter = asyncio.get_running_loop().create_future()
            (self._urgent if urgent else self._normal).append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._hand_over()  # the turn was given to us as we were cancelled
                elif waiter in (queue := self._urgent if urgent else self._normal):
                    queue.remove(waiter)
                raise
        else:
            self._busy = True
        try:
            yield
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        for waiters in (self._urgent, self._normal):
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # _busy stays True: the turn passes on
                    return
        self._busy = False
