"""/oublier through Telegram, with the bot still running: nothing of the citizen in the database
files (main, -wal, -shm), not even in the update journal; no names in the journal; no ids in
the logs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qn_bot.config import Config
from qn_bot.store.database import is_sqlite
from qn_bot.store.sql import Store
from tests.contract.test_erasure import everything
from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG
from tests.integration.telegram.conftest import running_bot
from tests.integration.telegram.harness import BotHub, Citizen, Emulator, new_token
from tests.integration.test_erasure_process import checkpoint, traces_in_files

pytestmark = pytest.mark.integration

MARKER = "Zéphyrine veut des jardins partagés au marqueur 83b1"
CITIZEN_ID = 913572468
FACILITATOR_ID = 913572469


@dataclass
class Named(Citizen):
    """A Telegram user with a username and a family name, as real ones have."""

    @property
    def user(self) -> dict[str, Any]:
        return {**super().user, "first_name": "Zéphyrine", "username": "zephyrine_qk7"}

    @property
    def chat(self) -> dict[str, Any]:
        return {**super().chat, "first_name": "Zéphyrine", "username": "zephyrine_qk7"}


async def wait_clean(check: Callable[[], Awaitable[list[str]]], within: float = 60.0) -> None:
    """Until ``check()`` finds nothing (the bot scrubs in the background)."""
    deadline = time.monotonic() + within
    found = await check()
    while found and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        found = await check()
    assert found == []


async def test_forget_leaves_no_trace_while_the_bot_runs(
    emulator: Emulator,
    tmp_path: Path,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="qn_bot")
    sqlite = is_sqlite(database_url)
    db = tmp_path / "telegram.db"
    url = f"sqlite:///{db.as_posix()}" if sqlite else database_url
    config = Config.model_validate(
        {
            "admins": [f"telegram:{FACILITATOR_ID}"],
            "database": {"url": url},
            "telegram": {"token": new_token(), "base_url": f"{emulator.url}/bot"},
            # Sent messages kept a day: /oublier must find her words in the sent export too.
            "retention": {"sent_payload_hours": 24},
        }
    )
    async with running_bot(config) as bot:
        hub: BotHub = bot.hub
        citizen = Named(hub, CITIZEN_ID, CITIZEN_ID)
        facilitator = Citizen(hub, FACILITATOR_ID, FACILITATOR_ID)
        await citizen.send(f"/start {SLUG}", CONSENT_QUESTION)
        await citizen.press("J’accepte")
        await citizen.expect(prompt("pourquoi"))
        await citizen.send(MARKER, "(1 au total)")
        await citizen.send("Une idée plus banale", "(2 au total)")

        await facilitator.send(f"/export {SLUG} md", f"Export de la campagne {SLUG}")
        await hub.wait(lambda: any(m.document for m in facilitator.history))
        before = await _dump(url)
        assert MARKER in before
        assert str(CITIZEN_ID) in before

        await citizen.send("/oublier", "effacer")
        await citizen.press("Oui, tout effacer")
        await citizen.expect("a été effacé")

        needles = [MARKER, str(CITIZEN_ID), "zephyrine_qk7", "Zéphyrine", "Dupont"]
        raw = [needle.encode() for needle in needles]

        async def in_files() -> list[str]:
            return traces_in_files(db, raw)

        async def in_rows() -> list[str]:
            dump = await _dump(url)
            return [needle for needle in needles if needle in dump]

        await wait_clean(in_files if sqlite else in_rows)
        if sqlite:
            checkpoint(db)
            assert traces_in_files(db, raw) == []
        # The bot goes on: another citizen is served as before.
        other = hub.citizen()
        await other.send(f"/start {SLUG}", CONSENT_QUESTION)

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert str(CITIZEN_ID) not in logged
    assert str(FACILITATOR_ID) not in logged


async def _dump(url: str) -> str:
    async with Store.from_url(url) as store:
        return await everything(store)
