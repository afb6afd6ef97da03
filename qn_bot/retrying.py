"""Trying again what met a database that cannot answer now (SQLite locked by another program
longer than busy_timeout, PostgreSQL restarting or unreachable).

Whoever already acted on the outside world cannot drop what the database was to learn: a
citizen's message that Telegram will not deliver again, a reply Telegram already shows, a Matrix
event the sync moves past. They wait for the database instead, with a capped backoff, however
long it takes; only that piece of work waits, the rest of the bot goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from qn_bot.domain import Address, UserRef
from qn_bot.errors import DatabaseUnavailable
from qn_bot.ports import KeyValue

T = TypeVar("T")

#: The first wait; each failure doubles it, up to the cap: a lock of a few seconds costs a
#: second, an outage of an hour a try every ten seconds.
FIRST_WAIT = 0.5
MAX_WAIT = 10.0

#: Told of each failure and of the wait before the next try (to log it: no ids in it).
Waiting = Callable[[DatabaseUnavailable, float], None]


async def until_available(attempt: Callable[[], Awaitable[T]], waiting: Waiting) -> T:
    """``attempt()`` again until it no longer raises :class:`DatabaseUnavailable`. Any other
    error, and cancellation, ends it at once. ``attempt`` must be safe to run again after a
    failure (a rolled-back transaction is)."""
    # Nearly every call succeeds at once: setting tenacity up for each of them cost about a
    # twentieth of the web chat's CPU per message (profiled). It takes over at the first
    # failure, with the same waits (FIRST_WAIT, then doubling up to MAX_WAIT).
    try:
        return await attempt()
    except DatabaseUnavailable as error:
        waiting(error, FIRST_WAIT)
    await asyncio.sleep(FIRST_WAIT)
    return await _with_backoff(attempt, waiting)


async def _with_backoff(attempt: Callable[[], Awaitable[T]], waiting: Waiting) -> T:
    """What :func:`until_available` does after a first failure and its wait."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        if isinstance(error, DatabaseUnavailable):
            waiting(error, delay)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(DatabaseUnavailable),
        wait=wait_exponential(multiplier=2 * FIRST_WAIT, max=MAX_WAIT),
        before_sleep=before_sleep,
        reraise=True,
    )

    async def call() -> T:  # tenacity awaits only what a coroutine function returns
        return await attempt()

    result: T = await retrying(call)
    return result


class PatientKeyValue:
    """A :class:`~qn_bot.ports.KeyValue` whose calls wait for a database that cannot answer now:
    for an adapter whose state is part of handling an event (what it opened, what it owes a
    citizen), so that the event is not dropped for want of the database."""

    def __init__(self, kv: KeyValue, waiting: Waiting) -> None:
        self.kv = kv
        self.waiting = waiting

    async def get(self, key: str) -> Any:
        return await until_available(lambda: self.kv.get(key), self.waiting)

    async def set(self, key: str, value: Any, *, about: UserRef | Address | None = None) -> None:
        await until_available(lambda: self.kv.set(key, value, about=about), self.waiting)

    async def delete(self, key: str) -> None:
        await until_available(lambda: self.kv.delete(key), self.waiting)
