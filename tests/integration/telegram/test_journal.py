"""The Telegram update journal holds only what replaying an update needs, and only while the
update is not handled yet."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from qn_bot.adapters.telegram.inbound import UpdateReader, journal_entry
from qn_bot.adapters.telegram.receiving import JOURNAL_KEY, Poller
from qn_bot.adapters.telegram.render import CallbackCodec
from telegram import Bot

from tests.integration.telegram.harness import BotHub, Emulator, new_token
from tests.integration.telegram.test_process import MemoryKV, wait_until

pytestmark = pytest.mark.integration

NAMES = {"first_name": "Zéphyrine", "last_name": "Dupont-Marqueur", "username": "zephyrine_qk7"}
USER = {"id": 913572468, "is_bot": False, "language_code": "fr", **NAMES}
PRIVATE = {"id": 913572468, "type": "private", **NAMES}
GROUP = {"id": -100777, "type": "supergroup", "title": "Atelier 2030"}

UPDATES: list[dict[str, Any]] = [
    {"update_id": 1, "message": {"message_id": 5, "date": 1767261600, "chat": PRIVATE,
     "from": USER, "text": "Une idée", "entities": []}},
    {"update_id": 2, "message": {"message_id": 6, "date": 1767261600, "chat": PRIVATE,
     "from": USER, "text": "/start construire-2030",
     "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}},
    {"update_id": 3, "edited_message": {"message_id": 5, "date": 1767261600,
     "edit_date": 1767261660, "chat": PRIVATE, "from": USER, "text": "Une idée revue"}},
    {"update_id": 4, "message": {"message_id": 7, "date": 1767261600, "chat": PRIVATE,
     "from": USER, "photo": [{"file_id": "AgAD", "file_unique_id": "u1", "width": 90,
     "height": 90}], "caption": "ma photo"}},
    {"update_id": 5, "message": {"message_id": 8, "date": 1767261600, "chat": GROUP,
     "from": USER, "text": "/start", "entities": [{"type": "bot_command", "offset": 0,
     "length": 6}]}},
    {"update_id": 6, "callback_query": {"id": "cb77", "from": USER, "chat_instance": "ci",
     "data": "c:accept", "message": {"message_id": 9, "date": 1767261600, "chat": PRIVATE,
     "from": {"id": 666, "is_bot": True, "first_name": "QN"}, "text": "Acceptez-vous ?"}}},
    # A field of a newer Bot API python-telegram-bot cannot parse: still answered as unsupported.
    {"update_id": 7, "message": {"message_id": 10, "date": "not a date", "chat": PRIVATE,
     "from": USER, "text": "?"}},
]  # fmt: skip


@pytest.mark.parametrize("update", UPDATES, ids=lambda u: str(u["update_id"]))
async def test_a_journal_entry_reads_as_the_update_itself_and_names_nobody(
    update: dict[str, Any],
) -> None:
    entry = journal_entry(update)
    text = json.dumps(entry, ensure_ascii=False)
    for name in NAMES.values():
        assert name not in text
    assert "ma photo" not in text  # a caption is never read: no need to keep it
    bot = Bot(new_token())  # parsing needs one, not a connection
    reader = UpdateReader(CallbackCodec())
    full, stripped = await reader.read_raw(update, bot), await reader.read_raw(entry, bot)
    assert stripped.inbound == full.inbound
    assert (stripped.callback is None) == (full.callback is None)
    if full.callback is not None and stripped.callback is not None:
        assert stripped.callback.id == full.callback.id
        assert stripped.callback.message is not None
        assert full.callback.message is not None
        assert stripped.callback.message.chat.id == full.callback.message.chat.id
        assert stripped.callback.message.message_id == full.callback.message.message_id


async def test_handled_updates_leave_the_journal_without_waiting_for_the_next_ones(
    emulator: Emulator,
) -> None:
    token = new_token()
    kv = MemoryKV()
    async with (
        BotHub(emulator.url, token) as hub,
        Bot(token, base_url=f"{emulator.url}/bot") as bot,
    ):
        citizen = hub.citizen()
        release = asyncio.Event()
        handled: list[dict[str, Any]] = []

        def process(update: dict[str, Any]) -> asyncio.Future[None]:
            handled.append(update)
            return asyncio.ensure_future(release.wait())  # type: ignore[arg-type]

        poller = Poller(bot, kv, process, timeout=1)
        task = asyncio.create_task(poller.run())
        try:
            await citizen.say("Une idée de Camille Dupont")
            await wait_until(lambda: len(handled) == 1)
            await wait_until(lambda: bool(kv.data.get(JOURNAL_KEY, {}).get("pending")))
            journal = json.dumps(kv.data[JOURNAL_KEY], ensure_ascii=False)
            assert "Une idée de Camille Dupont" in journal  # not handled yet: kept for replay
            assert "Dupont" not in journal.replace("Une idée de Camille Dupont", "")
            release.set()
            # Handled: gone from the journal soon, though nothing else arrives.
            await wait_until(lambda: kv.data[JOURNAL_KEY]["pending"] == [], within=10)
        finally:
            task.cancel()
