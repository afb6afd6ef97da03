"""Fixtures: one throwaway Synapse per session, a `qn-bot run` per test, citizens as nio clients."""

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
    """`make_bot()` registers a bot account and starts `qn-bot run` for it."""
    bots: list[BotProcess] = []

    def make(*, allowed: tuple[str, ...] = (), start: bool = True) -> BotProcess:
        name = unique("bot")
        user_id = synapse.register(name, PASSWORD)
        workdir = tmp_path / name
        workdir.mkdir()
        bot = BotProcess(workdir, synapse.url, user_id, PASSWORD, allowed=allowed)
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
