"""Rooms other than direct chats: invitation policy, `!start` in a group, rate limits."""

from __future__ import annotations

import asyncio
import re

import pytest
from nio import RoomGetStateEventResponse

from .flow import CONSENT

pytestmark = pytest.mark.integration


async def membership(citizen, room_id: str, user_id: str) -> str | None:
    resp = await citizen.client.room_get_state_event(room_id, "m.room.member", user_id)
    if isinstance(resp, RoomGetStateEventResponse):
        return str(resp.content.get("membership"))
    return None


async def test_group_start_opens_a_direct_chat_and_invites_follow_the_policy(
    make_bot, make_citizen
) -> None:
    alice = await make_citizen("alice")
    bob = await make_citizen("bob")
    mallory = await make_citizen("mallory")
    bot = make_bot(allowed=(alice.user_id,))  # only Alice may invite the bot

    # Mallory is not allowed: her invitation is declined.
    resp = await mallory.client.room_create(is_direct=True, invite=[bot.user_id])
    declined_room = resp.room_id
    for _ in range(300):
        if await membership(mallory, declined_room, bot.user_id) == "leave":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the bot did not decline a forbidden invitation")

    # Alice's team room with Bob: what was said before the bot came is not for it.
    resp = await alice.client.room_create(name="Équipe 2030", invite=[bob.user_id])
    group = resp.room_id
    await bob.wait_for(lambda: group in bob.client.invited_rooms)
    await bob.client.join(group)
    await alice.wait_joined(group, bob.user_id)
    await alice.send(group, "!start construire-2030")
    await alice.client.room_invite(group, bot.user_id)
    await alice.wait_joined(group, bot.user_id)

    await bob.send(group, "Bonjour à tous")
    await alice.send(group, "!start construire-2030")
    reply = await alice.expect(group, "https://matrix.to/#/")
    assert reply.msgtype == "m.notice"
    dm = re.search(r"https://matrix\.to/#/(![^\s]+)", reply.body)
    assert dm is not None, reply.body
    dm_room = dm.group(1)

    # Only the /start got an answer in the group (once Bob's own sync has the answer: a reply
    # to his earlier message would have come before it).
    def from_bot() -> list[str]:
        return [m.body for m in bob.messages(group) if m.sender == bot.user_id]

    await bob.wait_for(lambda: reply.body in from_bot())
    assert from_bot() == [reply.body]

    # The bot invited Alice to an encrypted direct chat; once she joins, the flow starts there.
    await alice.wait_for(lambda: dm_room in alice.client.invited_rooms)
    await alice.client.join(dm_room)
    consent = await alice.expect(dm_room, CONSENT[1])
    assert consent.encrypted
    await alice.say(dm_room, "1", "Pourquoi tout va changer")
    await alice.say(dm_room, "Une idée", "Noté (1 au total)")
    assert [r["text"] for r in bot.export_json()] == ["Une idée"]

    # A second /start in the group reuses the direct chat and resumes there.
    await alice.send(group, "/start construire-2030")
    again = await alice.expect(group, "https://matrix.to/#/")
    assert again.body.endswith(dm_room)
    await alice.expect(dm_room, "Bon retour")


async def test_rate_limited_bot_retries_without_duplicates(
    make_bot, make_citizen, synapse, database_url
) -> None:
    bot = make_bot(database_url=database_url)
    # One message a second (the admin API takes whole numbers): a bot slowed by a busy machine
    # still sends its replies faster.
    synapse.override_ratelimit(bot.user_id, messages_per_second=1, burst_count=1)
    alice = await make_citizen()
    room = await alice.open_dm(bot.user_id, encrypted=False)
    await alice.say(room, *CONSENT)
    await alice.say(room, "1", "Pourquoi tout va changer")
    await alice.say(room, "Limité", "Noté (1 au total)")
    assert "rate limited" in bot.log(), "Synapse never answered M_LIMIT_EXCEEDED"
    await asyncio.sleep(1.5)
    bodies = [m.body for m in alice.messages(room)]
    assert len(bodies) == len(set(bodies)), f"a message was sent twice: {bodies}"
