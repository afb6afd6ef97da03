"""Updates of one chat in order, updates of different chats at the same time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class ChatDispatcher:
    """One queue per chat, drained by its own task while it has work; idle chats cost nothing."""

    def __init__(self, max_concurrent: int = 16) -> None:
        # How many chats are handled at once: more would only queue up on the database.
        self._slots = asyncio.Semaphore(max_concurrent)
        self._queues: dict[str, deque[tuple[Job, asyncio.Future[None]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def submit(self, key: str, job: Job) -> asyncio.Future[None]:
        """Queue ``job`` behind the earlier jobs of chat ``key``; the future ends with it."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.cancel()
            return future
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            task = asyncio.create_task(self._drain(key, queue), name=f"telegram-chat-{key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.append((job, future))
        return future

    async def _drain(self, key: str, queue: deque[tuple[Job, asyncio.Future[None]]]) -> None:
        try:
            while queue:
                job, future = queue[0]
                try:
                    async with self._slots:
                        await job()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # Not the chat's key: in a private chat it is the user id.
                    log.exception("a telegram update failed")
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(None)
                queue.popleft()
        finally:
            for _, future in queue:
                future.cancel()
            self._queues.pop(key, None)

    @property
    def busy(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def close(self, *, within: float = 5.0) -> None:
        """Let queued jobs finish for up to ``within`` seconds, then cancel the rest."""
        self._closed = True
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=within)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
