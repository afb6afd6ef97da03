"""A citizen's message that meets a locked database is retried, stored and answered once.

Another program (a backup, a `sqlite3` shell) holds SQLite's write lock longer than the bot's
busy_timeout (5 s): a real fault a real database produces. Telegram's polling does not deliver
an update twice, so the bot itself must try again.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.clock import utcnow
from qn_bot.config import LimitsConfig
from qn_bot.domain import CampaignStatus
from qn_bot.flows.loader import resolve_flow
from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG
from tests.integration.telegram.conftest import running_bot, telegram_config
from tests.integration.telegram.harness import Citizen, Emulator

pytestmark = pytest.mark.integration


def failures(caplog: pytest.LogCaptureFixture) -> int:
    """Log records saying a citizen's message could not be handled or stored."""
    return sum(
        r.name == "qn_bot.app" and r.levelno >= logging.WARNING and "message from" in r.message
        for r in caplog.records
    )


def delivery_troubles(caplog: pytest.LogCaptureFixture) -> int:
    """Log records of the outbox worker about a message in hand (sent, or failed to send) that
    it could not record. Its claim loop's failures ("pass failed": nothing claimed, nothing
    sent) are not counted: they say nothing of the message in hand."""
    return sum(
        r.name == "qn_bot.outbox"
        and r.levelno >= logging.WARNING
        and "pass failed" not in r.getMessage()
        for r in caplog.records
    )


async def until(condition: Callable[[], bool], within: float) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - a database or log records, nothing to await
            await asyncio.sleep(0.05)


def outbox_rows(db: Path, citizen: Citizen) -> list[tuple[str, bool]]:
    """(status, leased) of each message queued for the citizen's chat, oldest first. Read
    without a transaction of the bot's: a reader never waits for SQLite's write lock (WAL)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT status, locked_until IS NOT NULL FROM outbox WHERE chat_id = ? ORDER BY id",
            (str(citizen.chat_id),),
        ).fetchall()
    return [(str(status), bool(leased)) for status, leased in rows]


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
            await citizen.press("J’accepte")
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


async def test_a_reply_sent_while_the_database_got_locked_is_recorded_and_the_chat_goes_on(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The lock is taken while a reply is on its way to Telegram: the message is delivered, but
    recording it as sent meets the lock. It must be recorded once the lock is gone (not left
    leased for a minute, holding back every later reply to the citizen, then sent twice)."""
    caplog.set_level(logging.WARNING, logger="qn_bot.outbox")
    config = telegram_config(emulator, tmp_path)
    db = tmp_path / "telegram.db"
    async with running_bot(config) as bot:
        alice = bot.hub.citizen()
        await alice.send(f"/start {SLUG}", CONSENT_QUESTION)
        await alice.press("J’accepte")
        await alice.expect(prompt("pourquoi"))
        await alice.settle()
        assert all(status == "sent" for status, _ in outbox_rows(db, alice))

        other = sqlite3.connect(db, isolation_level=None, timeout=30, check_same_thread=False)
        # A slow network: the reply stays on its way to Telegram for seconds, long enough
        # to lock the database behind the bot's back once it was claimed.
        await bot.hub.delay(3000)
        try:
            await alice.say("Dite juste avant le verrou")
            await until(lambda: ("pending", True) in outbox_rows(db, alice), within=60)
            await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
            try:
                await alice.expect("(1 au total)", within=30)
                # Held until the bot's transaction recording it gave up waiting (busy_timeout);
                # other writers of the bot may be in line before it.
                await until(lambda: delivery_troubles(caplog) > 0, within=120)
            finally:
                other.execute("ROLLBACK")
                other.close()
        finally:
            await bot.hub.delay(0)

        # Well within the minute a claimed message stays leased to its worker.
        await alice.send("Dite après le verrou", "(2 au total)", within=25)
        await alice.settle(1.0)
        rows = outbox_rows(db, alice)

    assert rows
    assert all(status == "sent" for status, _ in rows), rows
    assert sum("(1 au total)" in m.plain for m in alice.history) == 1


async def test_a_message_tried_again_after_a_locked_database_counts_once_against_flood_limits(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A citizen's message is counted against their flood limit when it arrives, not at each try:
    a retried message must not be taken for a flood and dropped ("doucement", then silence)."""
    caplog.set_level(logging.WARNING, logger="qn_bot.app")
    config = telegram_config(emulator, tmp_path).model_copy(
        # One message an hour: a single extra count would refuse the very first message.
        update={"limits": LimitsConfig(messages_per_window=1, window_seconds=3600)}
    )
    db = tmp_path / "telegram.db"
    async with running_bot(config) as bot:
        alice, bob = bot.hub.citizen(), bot.hub.citizen()
        await bob.send(f"/start {SLUG}", CONSENT_QUESTION)  # the bot is up and polling
        await bob.settle()
        other = sqlite3.connect(db, isolation_level=None, timeout=30, check_same_thread=False)
        await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
        try:
            await alice.say(f"/start {SLUG}")
            await until(lambda: failures(caplog) > 0, within=90)
        finally:
            other.execute("ROLLBACK")
            other.close()
        await alice.expect(CONSENT_QUESTION, within=40)
        await alice.settle(1.0)

    assert not any("Doucement" in m.plain for m in alice.history), alice.transcript()


def reading_troubles(caplog: pytest.LogCaptureFixture) -> int:
    """Log records of the Telegram adapter about an update it could not read or handle (not the
    poller's journal, which has its own retries)."""
    return sum(
        r.name.startswith("qn_bot.adapters.telegram")
        and r.name != "qn_bot.adapters.telegram.receiving"
        and r.levelno >= logging.WARNING
        for r in caplog.records
    )


async def test_a_button_pressed_while_the_database_is_locked_is_answered_after_it(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A button whose data was too long for Telegram carries a digest, looked up in the
    database once the bot has restarted: a press that meets a lock must wait for it, not be
    dropped (Telegram will not deliver it again)."""
    caplog.set_level(logging.WARNING)
    config = telegram_config(emulator, tmp_path)
    db = tmp_path / "telegram.db"
    slug = "atelier-" + "x" * 55  # its button's data is longer than Telegram's 64 bytes
    async with running_bot(config) as bot:
        async with bot.app.store.transaction() as tx:
            flow = resolve_flow("construire-2030")
            await create_campaign(tx, slug=slug, flow=flow, title="Atelier long", now=utcnow())
            await set_status(tx, slug, CampaignStatus.OPEN, utcnow())
        first = bot.hub.citizen()
        (listing,) = await first.send("/start", "Atelier long")
        (data,) = [b["callback_data"] for b in listing.buttons if b["text"] == "Atelier long"]
        assert str(data).startswith("h:")

    async with running_bot(config) as bot:  # restarted: the digest is only in the database
        alice = Citizen(bot.hub, first.user_id, first.chat_id)
        bob = bot.hub.citizen()
        await bob.send("/aide", "/suivant")  # the bot is up and polling
        await alice.settle()
        other = sqlite3.connect(db, isolation_level=None, timeout=30, check_same_thread=False)
        await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
        try:
            await alice.press_data(listing, str(data))
            await until(lambda: reading_troubles(caplog) > 0, within=90)
        finally:
            other.execute("ROLLBACK")
            other.close()
        await alice.expect(CONSENT_QUESTION, within=40)
