"""A citizen's message that meets a locked database is retried, stored and answered once.

Another program (a backup, a `sqlite3` shell) holds SQLite's write lock longer than the bot's
busy_timeout (5 s): a real fault a real database produces. Telegram's polling does not deliver
an update twice, so the bot itself must try again.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG
from tests.integration.telegram.conftest import running_bot, telegram_config
from tests.integration.telegram.harness import Emulator

pytestmark = pytest.mark.integration


def failures(caplog: pytest.LogCaptureFixture) -> int:
    """Log records saying a citizen's message could not be handled or stored."""
    return sum(
        r.name == "qn_bot.app" and r.levelno >= logging.WARNING and "message from" in r.message
        for r in caplog.records
    )


async def test_an_answer_that_met_a_locked_database_is_stored_and_answered_once(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="qn_bot.app")
    config = telegram_config(emulator, tmp_path)
    db = tmp_path / "telegram.db"
    async with running_bot(config) as bot:
        alice, bob = bot.hub.citizen(), bot.hub.citizen()
        for citizen in (alice, bob):
            await citizen.send(f"/start {SLUG}", CONSENT_QUESTION)
            await citizen.press("J'accepte")
            await citizen.expect(prompt("pourquoi"))

        other = sqlite3.connect(db, isolation_level=None, timeout=30, check_same_thread=False)
        # In a thread: the bot may be committing, and its commit needs this event loop.
        await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
        try:
            await alice.say("Dite pendant le verrou")
            await bob.say("Bob aussi, pendant le verrou")
            # Held until a transaction of the bot gave up waiting for it (busy_timeout).
            async with asyncio.timeout(90):
                while failures(caplog) < 1:  # noqa: ASYNC110 - log records, nothing to await
                    await asyncio.sleep(0.05)
            assert not any("(1 au total)" in m.plain for m in alice.history)
        finally:
            other.execute("ROLLBACK")
            other.close()

        await alice.expect("(1 au total)", within=40)
        await bob.expect("(1 au total)", within=40)
        await alice.send("Après le verrou", "(2 au total)", within=20)
        await alice.settle(1.0)
        rows = await bot.export()

    assert sorted(r["text"] for r in rows) == [
        "Après le verrou",
        "Bob aussi, pendant le verrou",
        "Dite pendant le verrou",
    ]
    for citizen in (alice, bob):
        assert sum("(1 au total)" in m.plain for m in citizen.history) == 1
        # Retried, not apologised for.
        assert not any("erreur" in m.plain.lower() for m in citizen.history)
