"""Group commit: requests that arrive while a batch is being written share the next transaction.

A database commits one transaction at a time; per transaction we pay BEGIN, COMMIT (an fsync
with durable commits) and the statements' round trips. When many conversations speak at once,
handling their messages in one transaction pays that once per batch instead of once per message.
Each caller still gets its own result, and only after the commit of the batch that held it.

No background task: the first caller to find nobody writing becomes the *leader* and runs one
batch (its own request and whatever queued meanwhile); when it is done it hands the lead to the
oldest waiting request, whose caller runs the next batch. Batches therefore grow exactly as large
as the load makes them: one request when the bot is quiet, hundreds under a burst.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Handles a batch; returns one result (or the exception that request ended with) per request,
#: in order. Raising means the whole batch failed and every request gets that exception.
BatchHandler = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


class _Lead:
    """Given to a waiting request instead of its result: 'run the next batch yourself'."""


_LEAD = _Lead()


class BatchInterrupted(RuntimeError):
    """The leader running this request's batch was cancelled; the request may be retried."""


@dataclass(eq=False, slots=True)
class _Request(Generic[T, R]):
    item: T
    future: asyncio.Future[R | _Lead] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        handler: BatchHandler[T, R],
        *,
        max_batch: int = 500,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._handler = handler
        self._max_batch = max_batch
        self._queue: deque[_Request[T, R]] = deque()
        self._leading = False
        #: Told each batch's size before it runs (metrics); None: nobody is told.
        self.on_batch = on_batch

    async def submit(self, item: T) -> R:
        """Handle ``item`` in the next batch; returns (or raises) once that batch committed."""
        request: _Request[T, R] = _Request(item)
        self._queue.append(request)
        if not self._leading:
            self._leading = True
            await self._run_batch()
        while True:
            try:
                outcome = await request.future
            except asyncio.CancelledError:
                self._abandon(request)
                raise
            if not isinstance(outcome, _Lead):
                return outcome
            request.future = asyncio.get_running_loop().create_future()
            await self._run_batch()

    async def _run_batch(self) -> None:
        batch: list[_Request[T, R]] = []
        try:
            while self._queue and len(batch) < self._max_batch:
                request = self._queue.popleft()
                if not request.future.done():  # a cancelled caller's request is dropped
                    batch.append(request)
            if not batch:
                return
            if self.on_batch is not None:
                self.on_batch(len(batch))
            try:
                outcomes = await self._handler([r.item for r in batch])
            except Exception as exc:
                outcomes = [exc] * len(batch)
            for request, outcome in zip(batch, outcomes, strict=True):
                if request.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    request.future.set_exception(outcome)
                else:
                    request.future.set_result(outcome)
        finally:
            # Cancelled mid-batch (shutdown): the others must not wait forever.
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(BatchInterrupted("the batch was interrupted"))
                    request.future.exception()  # the cancelled leader's own is never awaited
            self._hand_over()

    def _hand_over(self) -> None:
        while self._queue:
            head = self._queue[0]
            if head.future.done():  # its caller was cancelled while it waited
                self._queue.popleft()
                continue
            head.future.set_result(_LEAD)
            return
        self._leading = False

    def _abandon(self, request: _Request[T, R]) -> None:
        """A caller gave up (cancelled): never leave the lead with nobody to take it."""
        if request in self._queue:
            self._queue.remove(request)
        if (
            request.future.done()
            and not request.future.cancelled()
            and isinstance(request.future.result(), _Lead)
        ):
            self._hand_over()
