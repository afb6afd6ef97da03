"""The whole Construire 2030 flow in a Matrix direct chat, unencrypted and encrypted."""

from __future__ import annotations

import html
import time

import pytest

from .flow import AFTER_CONSENT, CONSENT, ESCAPE_ME, FINISH, ITEMS

pytestmark = pytest.mark.integration


async def test_whole_flow_unencrypted_dm(make_bot, make_citizen, database_url) -> None:
    bot = make_bot(database_url=database_url)
    alice = await make_citizen()
    # Alice writes at once, before the bot accepted the invitation: she still gets an answer.
    room = await alice.open_dm(bot.user_id, encrypted=False, wait=False)
    started = time.monotonic()

    consent = await alice.say(room, *CONSENT)
    assert "1. J’accepte" in consent.body
    assert '<ol><li value="1">J’accepte</li>' in (consent.formatted_body or "")
    # The bot offers 1️⃣ 2️⃣ under the question; the citizen's 1️⃣ picks the first choice.
    await alice.wait_for(lambda: (bot.user_id, consent.event_id, "2️⃣") in alice.reactions, within=10)
    await alice.send_content(
        room,
        "m.reaction",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": consent.event_id, "key": "1️⃣"}},
    )
    await alice.expect(room, "Pourquoi tout va changer")

    # Images and files are not answers: the bot says so and stores nothing.
    await alice.send_content(
        room,
        "m.room.message",
        {"msgtype": "m.image", "body": "photo.png", "url": "mxc://localhost/nothing"},
    )
    await alice.expect(room, "Je ne lis que du texte")
    # A message the bot cannot decrypt (no room key) is answered too, naming the cause.
    await alice.send_content(
        room,
        "m.room.encrypted",
        {
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": "AwgAEnAcafebabe",
            "sender_key": "c2VuZGVyX2tleV9mb3JfdGVzdHNfb25seQ",
            "session_id": "c2Vzc2lvbl9pZF9mb3JfdGVzdHNfb25seQ",
            "device_id": "NOSUCHDEVICE",
        },
    )
    await alice.expect(room, "pas pu déchiffrer")

    for text, needle in AFTER_CONSENT:
        reply = await alice.say(room, text, needle)
    # The review quotes the participant's text: escaped in HTML, verbatim in the plain body.
    assert ESCAPE_ME in reply.body
    formatted = reply.formatted_body or ""
    assert html.escape(ESCAPE_ME) in formatted
    assert "<script>" not in formatted
    assert "<b>gras" not in formatted
    await alice.say(room, *FINISH)
    elapsed = time.monotonic() - started

    mine = alice.messages(room)
    assert mine
    assert all(m.msgtype == "m.notice" for m in mine)
    assert all(m.formatted_body is not None for m in mine)
    assert not any(m.encrypted for m in mine)
    rows = bot.export_json()
    assert {row["text"] for row in rows} == ITEMS
    print(f"unencrypted whole flow: {elapsed:.1f}s, {len(mine)} bot messages")


async def test_whole_flow_encrypted_dm(make_bot, make_citizen, database_url) -> None:
    bot = make_bot(database_url=database_url)
    alice = await make_citizen()
    room = await alice.open_dm(bot.user_id, encrypted=True)
    started = time.monotonic()
    await alice.say(room, *CONSENT)
    await alice.say(room, "1", "Pourquoi tout va changer")
    for text, needle in AFTER_CONSENT:
        await alice.say(room, text, needle)
    await alice.say(room, *FINISH)
    elapsed = time.monotonic() - started
    # The data export arrives as an encrypted file upload.
    await alice.send(room, "/mes_donnees")
    await alice.wait_for(
        lambda: any(m.msgtype == "m.file" for m in alice.messages(room)), within=20
    )

    mine = alice.messages(room)
    assert mine
    assert all(m.encrypted for m in mine), "every bot message must be encrypted"
    assert all(m.msgtype in ("m.notice", "m.file") for m in mine)
    rows = bot.export_json()
    assert {row["text"] for row in rows} == ITEMS
    print(f"encrypted whole flow: {elapsed:.1f}s, {len(mine)} bot messages")
