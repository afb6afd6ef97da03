"""The fold of a period's items: respondents, newest texts per section, themes.

The fold is pure Python: it holds the GIL for as long as it runs (1.4 s of CPU for a week of
170,000 contributions). In a thread of the bot it gets in the way of everything else the
interpreter does meanwhile, reading the rows first. For a big campaign it therefore runs in a
process of its own (``python -m qn_bot.digest.fold``, :class:`FoldProcess`), which imports only
:mod:`qn_bot.digest.themes` and has the second core to itself: the bot reads the rows from its
own snapshot and hands them over through a pipe, and counts in the database while the process
folds. Small campaigns fold in a thread (:meth:`PeriodFold.consume`): a process costs more
than it saves there.

Protocol of the process: pickles on stdin — ``(steps, language, cap)``, then partitions (lists
of row tuples), then ``None`` — and one pickle back on stdout, :meth:`PeriodFold.result`. Only
the bot's own process writes to that pipe.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import pickle
import queue
import sys
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from typing import IO, Any

from qn_bot.digest.themes import KeyCache, Theme, ThemeCounter

# Columns of a row: step_id, text, participant_id, created (as stored), id.
_STEP, _TEXT, _AUTHOR = itemgetter(0), itemgetter(1), itemgetter(2)
_ENTRY = itemgetter(3, 4, 1)  # (created, id, text): the newest sorts last

#: (respondents, newest texts per text step, themes per text step)
FoldResult = tuple[int, dict[str, tuple[str, ...]], dict[str, tuple[Theme, ...]]]


class PeriodFold:
    """Folds partitions of the period's items, one at a time, in a thread or a process."""

    def __init__(self, steps: Sequence[str], language: str, cap: int) -> None:
        self.cap = cap
        self.respondents: set[int] = set()
        keys = KeyCache(language)
        self.counters = {step_id: ThemeCounter(language, keys) for step_id in steps}
        # Per text step, a min-heap of the newest (created, id, text) seen so far.
        self.heaps: dict[str, list[tuple[Any, int, str]]] = {step_id: [] for step_id in steps}

    def add(self, rows: Sequence[Any]) -> None:
        self.respondents.update(map(_AUTHOR, rows))
        # Grouped by step with C-level sort and groupby: no Python work per row.
        for step_id, group in groupby(sorted(rows, key=_STEP), key=_STEP):
            counter = self.counters.get(step_id)
            if counter is None:
                continue  # a choice or number answer: counted, no text to show
            step_rows = list(group)
            counter.add_many(map(_TEXT, step_rows), map(_AUTHOR, step_rows))
            latest = heapq.nlargest(self.cap, map(_ENTRY, step_rows))
            heap = self.heaps[step_id]
            for entry in latest:
                if len(heap) < self.cap:
                    heapq.heappush(heap, entry)
                elif entry > heap[0]:
                    heapq.heapreplace(heap, entry)

    def consume(self, pending: queue.Queue[Sequence[Any] | None]) -> FoldResult:
        """Fold partitions until ``None`` (in a thread); ``task_done`` after each, also after a
        failure, so that whoever waits for the queue to be done is never left waiting."""
        failure: Exception | None = None
        while (rows := pending.get()) is not None:
            try:
                if failure is None:
                    self.add(rows)
            except Exception as exc:
                failure = exc
            finally:
                pending.task_done()
        pending.task_done()  # the None
        if failure is not None:
            raise failure
        return self.result()

    def result(self) -> FoldResult:
        newest = {
            step_id: tuple(text for _, _, text in sorted(heap, reverse=True))
            for step_id, heap in self.heaps.items()
        }
        themes = {step_id: counter.result() for step_id, counter in self.counters.items()}
        return len(self.respondents), newest, themes


class FoldError(RuntimeError):
    """The fold process failed; its standard error is in the message."""


class FoldProcess:
    """A :class:`PeriodFold` in a process of its own, fed through its standard input."""

    #: Bytes of pickled partitions the process has not read yet before :meth:`add` waits: enough
    #: for the reading to run ahead of the fold (a week of 170,000 contributions pickles to
    #: 27 MB), so that the database's count can start early; a few partitions of rows as Python
    #: objects would take as much.
    BUFFER = 32 << 20

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def start(cls, steps: Sequence[str], language: str, cap: int) -> FoldProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        process.stdin.transport.set_write_buffer_limits(high=cls.BUFFER)
        fold = cls(process)
        await fold._send((list(steps), language, cap))
        return fold

    async def add(self, rows: Sequence[Any]) -> None:
        await self._send(rows)

    async def result(self) -> FoldResult:
        await self._send(None)
        out, err = await self._process.communicate()
        if self._process.returncode != 0:
            raise FoldError(f"digest fold process failed: {err.decode(errors='replace')}")
        found: FoldResult = pickle.loads(out)  # noqa: S301 (our own child process, a pipe)
        return found

    async def close(self) -> None:
        """Stop the process if it still runs (an error or a cancellation on our side)."""
        if self._process.returncode is None:
            self._process.kill()
            await self._process.wait()

    async def _send(self, message: object) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        stdin.write(data)
        try:
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            err = await self._process.stderr.read() if self._process.stderr else b""
            raise FoldError(f"digest fold process ended: {err.decode(errors='replace')}") from exc


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The process's side: fold what comes in, answer once.

    Without the garbage collector: the process lives for one fold, whose objects form no
    cycles (reference counting frees each partition), and the collector's passes over the
    growing counters cost 0.1 s of its 1.3 s.
    """
    gc.disable()
    steps, language, cap = pickle.load(stdin)  # noqa: S301 (the parent bot, a pipe)
    fold = PeriodFold(steps, language, cap)
    while (rows := pickle.load(stdin)) is not None:  # noqa: S301
        fold.add(rows)
    pickle.dump(fold.result(), stdout, protocol=pickle.HIGHEST_PROTOCOL)
    stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
