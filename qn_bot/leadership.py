"""Exclusive roles between bot processes sharing one database: the port.

Some work must run in one process at a time: polling Telegram with a bot token (two getUpdates
callers conflict) and syncing a Matrix account (the E2EE crypto store belongs to one device).
Adapters ask for a role through :class:`Leadership` and run their work with
:func:`run_exclusively`; they never see how a role is granted. On PostgreSQL it is an advisory
lock (:mod:`qn_bot.store.leadership`); SQLite means one process per database file, so every
role is simply granted (:class:`Granted`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def secret_label(prefix: str, secret: str) -> str:
    """A role name for something secret (a bot token) that can be logged: a short digest."""
    return f"{prefix}:{hashlib.sha256(secret.encode()).hexdigest()[:16]}"


@dataclass(slots=True)
class Lease:
    """A role held by this process; ``lost`` is set once it no longer is."""

    role: str
    lost: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def held(self) -> bool:
        return not self.lost.is_set()


class Leadership(abc.ABC):
    """Grants exclusive roles: ``async with leadership.hold("matrix:@bot:example.org") as lease``
    waits until this process holds the role, and releases it on exit."""

    @abc.abstractmethod
    def hold(self, role: str) -> AbstractAsyncContextManager[Lease]: ...

    @abc.abstractmethod
    async def vacant(self, role: str) -> bool:
        """True when nobody holds ``role`` now (its holder, if any, has died)."""

    async def close(self) -> None:  # noqa: B027 - nothing to close by default
        """Free what the helper keeps open (roles are released by leaving ``hold``)."""


class Granted(Leadership):
    """One process per database (SQLite): every role is this process's at once, for good."""

    @asynccontextmanager
    async def hold(self, role: str) -> AsyncIterator[Lease]:
        yield Lease(role)

    async def vacant(self, role: str) -> bool:
        return False  # there is no other process to have died


async def run_exclusively(
    leadership: Leadership, role: str, work: Callable[[Lease], Coroutine[Any, Any, T]]
) -> T:
    """Wait for ``role``, run ``work(lease)`` while it is held; if the role is lost, cancel the
    work and wait to take the role again. Returns (or raises) what the work returns (or raises);
    cancelling this cancels the work and releases the role."""
    while True:
        async with leadership.hold(role) as lease:
            task = asyncio.create_task(work(lease), name=f"exclusive-{role}")
            lost = asyncio.create_task(lease.lost.wait())
            try:
                await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task  # raises what the work raised
            if not task.cancelled():
                return task.result()
        log.warning("role %s lost: its work stopped; waiting to take it again", role)
