"""Telegram integration fixtures: one emulator per session, a fresh bot and database per test.

Tests taking ``bot`` run once per backend (tests/conftest.py's ``database_url``: SQLite, and
PostgreSQL when QN_BOT_TEST_POSTGRES_URL is set); ``telegram_config`` without a
``database_url`` stays on a SQLite file.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from qn_bot.adapters.telegram import Limits, TelegramAdapter
from qn_bot.adapters.telegram.pacing import Pacer

from qn_bot.app import Application, prepare_database
from qn_bot.clock import utcnow
from qn_bot.config import Config
from qn_bot.exporters import export_campaign
from tests.integration.processes import SLUG
from tests.integration.telegram.harness import BotHub, Emulator, new_token


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    server = Emulator()
    yield server
    server.stop()


TEST_LIMITS = {"messages_per_window": 1000, "window_seconds": 1}


def telegram_config(
    emulator: Emulator, directory: Path, *, database_url: str | None = None, **telegram: Any
) -> Config:
    """A config for a fresh bot on the emulator; its database is ``database_url`` if given,
    else the SQLite file telegram.db in ``directory``."""
    if database_url is None:
        database_url = f"sqlite:///{(directory / 'telegram.db').resolve().as_posix()}"
    return Config.model_validate(
        {
            "database": {"url": database_url},
            "telegram": {"token": new_token(), "base_url": f"{emulator.url}/bot", **telegram},
            # Test citizens answer as fast as the bot does, far beyond any person's pace.
            "limits": TEST_LIMITS,
        }
    )


@dataclass
class RunningBot:
    app: Application
    hub: BotHub
    config: Config

    async def export(self, slug: str = SLUG) -> list[dict[str, Any]]:
        async with self.app.store.transaction() as tx:
            rows = json.loads(await export_campaign(tx, slug, "json", "fr", utcnow()))
        assert isinstance(rows, list)
        return rows


#: Citizens in tests type faster than people: let a chat have bursts (the global pace stays).
FAST_CHATS = Limits(per_chat_per_second=20.0, chat_burst=20)


@asynccontextmanager
async def running_bot(
    config: Config, limits: Limits | None = FAST_CHATS
) -> AsyncIterator[RunningBot]:
    """qn-bot's Application with the Telegram adapter found through its entry point."""
    await prepare_database(config)
    token = config.telegram.token
    assert token is not None
    app = Application(config)
    assert list(app.adapters) == ["telegram"]
    adapter = app.adapters["telegram"]
    assert isinstance(adapter, TelegramAdapter)
    if limits is not None:
        adapter.pacer = Pacer(limits)
    url = str(config.telegram.base_url).removesuffix("/bot")
    async with BotHub(url, token.get_secret_value()) as hub, app:
        yield RunningBot(app, hub, config)


@pytest.fixture
async def bot(emulator: Emulator, tmp_path: Path, migrated_url: str) -> AsyncIterator[RunningBot]:
    # Already migrated (a copy of the session's migrated database): the start still checks it
    # and creates the campaign, as on a first `qn-bot run`.
    config = telegram_config(emulator, tmp_path, database_url=migrated_url)
    async with running_bot(config) as running:
        yield running
