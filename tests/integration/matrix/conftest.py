"""Fixtures: one throwaway Synapse per session, a `qn-bot run` per test, citizens as nio clients.

A test that takes tests/conftest.py's ``database_url`` and gives it to ``make_bot`` runs on
SQLite and on PostgreSQL (when QN_BOT_TEST_POSTGRES_URL is set): the flows, the SIGKILL
restart, edits, roles, the digest and the rate-limited retries. The slow load and outage tests
(two bots, 20 citizens, a 20 s outage) stay on SQLite files to keep the suite's time down.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from .bot import BotProcess
from .citizen import Citizen
from .synapse import Synapse

PASSWORD = "correct horse battery staple"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    server = Synapse(tmp_path_factory.mktemp("synapse"))
    server.start()
    yield server
    server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


@pytest.fixture
def make_bot(synapse: Synapse, tmp_path: Path) -> Iterator[Callable[..., BotProcess]]:
    """`make_bot()` registers a bot account and starts `qn-bot run` for it.

    Each bot needs a database of its own: pass a test's ``database_url`` to one bot only.
    """
    bots: list[BotProcess] = []

    def make(
        *, allowed: tuple[str, ...] = (), start: bool = True, database_url: str | None = None
    ) -> BotProcess:
        """``database_url``: the test's ``database_url`` (a test taking it runs on every
        backend); by default a SQLite file in the bot's own directory."""
        name = unique("bot")
        user_id = synapse.register(name, PASSWORD)
        workdir = tmp_path / name
        workdir.mkdir()
        bot = BotProcess(
            workdir, synapse.url, user_id, PASSWORD, allowed=allowed, database_url=database_url
        )
        bots.append(bot)
        if start:
            bot.start()
        return bot

    yield make
    for bot in bots:
        bot.stop()


@pytest.fixture
async def make_citizen(
    synapse: Synapse, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Citizen]]]:
    citizens: list[Citizen] = []

    async def make(prefix: str = "citizen") -> Citizen:
        name = unique(prefix)
        user_id = await asyncio.to_thread(synapse.register, name, PASSWORD)
        citizen = Citizen(synapse.url, user_id, PASSWORD, tmp_path / "stores" / name)
        citizens.append(citizen)
        await citizen.login()
        return citizen

    yield make
    for citizen in citizens:
        await citizen.close()
