"""`kill -USR1 PID`: what a running qn-bot is waiting for, on its log.

A process that seems stuck (a chat that does not answer, a stop that does not end) is read
best from the inside: every asyncio task with the chain of coroutines it awaits, then every
thread's stack. Reading costs nothing until the signal comes, and the process goes on. Once the
command has returned, the same signal prints every thread (what an exit would wait for).
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

SIGNAL = signal.SIGUSR1


def _awaited_frames(coro: Any) -> Iterator[FrameType]:
    # Task.get_stack() stops at the task's own coroutine; the await chain says where it waits.
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            yield frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)


def describe_tasks() -> str:
    lines = []
    for task in sorted(asyncio.all_tasks(), key=lambda t: t.get_name()):
        lines.append(f"task {task.get_name()}:")
        for frame in _awaited_frames(task.get_coro()):
            code = frame.f_code
            lines.append(f"  {code.co_filename}:{frame.f_lineno} in {code.co_name}")
    return "\n".join(lines)


def dump() -> None:
    log.warning("asked for a stack dump (SIGUSR1)\n%s", describe_tasks())
    with contextlib.suppress(OSError, ValueError, AttributeError):
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)


@contextlib.contextmanager
def dump_on_signal(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """While the block runs, SIGUSR1 logs the tasks and threads (main thread only: elsewhere,
    e.g. a CLI call inside a test's thread, nothing is installed)."""
    try:
        loop.add_signal_handler(SIGNAL, dump)
    except (NotImplementedError, RuntimeError, ValueError):
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(SIGNAL)
        # The command is done; a process that still does not exit waits for a thread (one
        # not daemonic, a connection not closed): from now on the signal prints every thread.
        with contextlib.suppress(OSError, ValueError, RuntimeError, AttributeError):
            faulthandler.register(SIGNAL, all_threads=True)
