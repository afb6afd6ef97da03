"""On a real Synapse: a redaction erases the answer's text (every revision), /oublier leaves
nothing of the citizen in the database, and the bot's log never names her."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from qn_bot.store.database import is_sqlite
from qn_bot.store.sql import Store
from tests.contract.test_erasure import everything
from tests.integration.test_erasure_process import checkpoint, traces_in_files

from .flow import CONSENT
from .test_edits import wait_export

pytestmark = pytest.mark.integration

REDACTED = "Zéphyrine retire ceci au marqueur 41a7"
REVISED = "Zéphyrine retire ceci, revu au marqueur 41a8"
MARKER = "Zéphyrine veut des jardins partagés au marqueur 83b1"


async def dump(url: str) -> str:
    async with Store.from_url(url) as store:
        return await everything(store)


async def eventually_absent(
    check: Callable[[], Awaitable[list[str]]], within: float = 60.0
) -> None:
    deadline = time.monotonic() + within
    found = await check()
    while found and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        found = await check()
    assert found == []


async def test_redaction_and_forgetting_leave_no_trace(
    make_bot, make_citizen, database_url
) -> None:
    bot = make_bot(database_url=database_url)
    citizen = await make_citizen("zephyrine")
    room = await citizen.open_dm(bot.user_id, encrypted=True)
    await citizen.say(room, *CONSENT)
    await citizen.say(room, "1", "Pourquoi tout va changer")
    withdrawn = await citizen.send(room, REDACTED)
    await citizen.expect(room, "Noté (1 au total)")
    await citizen.send_content(
        room,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": f"* {REVISED}",
            "m.new_content": {"msgtype": "m.text", "body": REVISED},
            "m.relates_to": {"rel_type": "m.replace", "event_id": withdrawn},
        },
    )
    await wait_export(bot, lambda rows: [r["text"] for r in rows] == [REVISED])
    assert REDACTED in await dump(bot.database_url)  # the first revision is kept

    await citizen.client.room_redact(room, withdrawn, reason="changé d'avis")
    await wait_export(bot, lambda rows: rows == [])

    async def texts_left() -> list[str]:
        found = await dump(bot.database_url)
        return [text for text in (REDACTED, REVISED) if text in found]

    await eventually_absent(texts_left)

    await citizen.say(room, MARKER, "Noté (1 au total)")
    await citizen.say(room, "/oublier", "effacer tout")
    await citizen.say(room, "1", "a été effacé")

    needles = [MARKER, REDACTED, REVISED, citizen.user_id]

    async def rows_left() -> list[str]:
        found = await dump(bot.database_url)
        return [needle for needle in needles if needle in found]

    await eventually_absent(rows_left)
    if is_sqlite(bot.database_url):
        raw = [needle.encode() for needle in needles]

        async def bytes_left() -> list[str]:
            return traces_in_files(bot.db, raw)

        await eventually_absent(bytes_left)
        checkpoint(bot.db)
        assert traces_in_files(bot.db, raw) == []
    bot.stop()
    assert citizen.user_id not in bot.log()
