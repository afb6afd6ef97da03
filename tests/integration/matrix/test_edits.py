"""Edits (m.replace) revise an item; redactions delete it — in an encrypted direct chat."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from .bot import BotProcess
from .flow import CONSENT

pytestmark = pytest.mark.integration


async def wait_export(bot: BotProcess, check: Any, within: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = await asyncio.to_thread(bot.export_json)
        if check(rows):
            return rows
        await asyncio.sleep(0.3)
    raise AssertionError(f"export never matched; last: {rows}")


async def test_edit_revises_and_redaction_deletes(make_bot, make_citizen, database_url) -> None:
    bot = make_bot(database_url=database_url)
    alice = await make_citizen()
    room = await alice.open_dm(bot.user_id, encrypted=True)
    await alice.say(room, *CONSENT)
    await alice.say(room, "1", "Pourquoi tout va changer")
    first = await alice.send(room, "Premier jet")
    await alice.expect(room, "Noté (1 au total)")
    second = await alice.send(room, "Idée à retirer")
    await alice.expect(room, "Noté (2 au total)")

    await alice.send_content(
        room,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* Premier jet revu",
            "m.new_content": {"msgtype": "m.text", "body": "Premier jet revu"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": first},
        },
    )
    rows = await wait_export(bot, lambda rows: any(r["text"] == "Premier jet revu" for r in rows))
    revised = next(r for r in rows if r["text"] == "Premier jet revu")
    assert revised["revision"] == 2
    assert "Premier jet" not in {r["text"] for r in rows}

    await alice.client.room_redact(room, second, reason="changé d'avis")
    rows = await wait_export(bot, lambda rows: "Idée à retirer" not in {r["text"] for r in rows})
    assert [r["text"] for r in rows] == ["Premier jet revu"]

    # The flow goes on normally afterwards.
    await alice.say(room, "Encore une", "Noté")
