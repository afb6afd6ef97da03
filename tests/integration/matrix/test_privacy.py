"""What the bot says pings nobody, and a direct chat stops being private when a third person is
invited into it — on a real Synapse, with real clients."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from nio import PushRuleKind, RoomCreateResponse

from .citizen import Citizen
from .flow import CONSENT
from .test_campaigns_and_digests import configure

pytestmark = pytest.mark.integration


async def highlights(citizen: Citizen, room_id: str, sender: str) -> list[dict[str, Any]]:
    """The citizen's notifications from ``sender`` that Synapse's push rules made highlights."""
    client = citizen.client
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{client.homeserver}/_matrix/client/v3/notifications",
            params={"only": "highlight"},
            headers={"Authorization": f"Bearer {client.access_token}"},
        ) as resp,
    ):
        body = await resp.json()
    return [
        n
        for n in body["notifications"]
        if n["room_id"] == room_id and n["event"]["sender"] == sender
    ]


async def test_bot_messages_carry_empty_mentions_and_ping_nobody(make_bot, make_citizen) -> None:
    alice = await make_citizen("alice")
    bob = await make_citizen("bob")
    bot = make_bot(start=False)
    configure(bot, admins=(alice.user_id,))
    bot.start()
    # Bob wants to hear about bots' messages (Element: "Messages sent by bots"), and the bot is
    # an admin of the team room: nothing but m.mentions keeps its text from pinging him.
    enabled = await bob.client.enable_pushrule(
        "global", PushRuleKind.override, ".m.rule.suppress_notices", False
    )
    assert type(enabled).__name__ == "EnablePushRuleResponse", enabled
    created = await alice.client.room_create(
        name="Équipe 2030",
        invite=[bob.user_id, bot.user_id],
        power_level_override={"users": {bot.user_id: 100}},
    )
    assert isinstance(created, RoomCreateResponse), created
    room = created.room_id
    await bob.wait_for(lambda: room in bob.client.invited_rooms)
    await bob.client.join(room)
    await alice.wait_joined(room, bob.user_id)
    await alice.wait_joined(room, bot.user_id)

    bob_name = bob.user_id.split(":")[0].removeprefix("@")  # his display name
    link = f"https://matrix.to/#/{bob.user_id}"
    for typed in (f"/stats {bob_name}", "/stats @room", f"/stats {link}"):
        await alice.send(room, typed)

    def from_bot() -> list[Any]:
        return [m for m in bob.messages(room) if m.sender == bot.user_id]

    await bob.wait_for(lambda: len(from_bot()) >= 3, within=30)
    said = from_bot()
    assert bob_name in said[0].body
    assert "@room" in said[1].body
    assert link in said[2].body
    assert all(m.content.get("m.mentions") == {} for m in said), [m.content for m in said]
    assert all("<a" not in (m.formatted_body or "") for m in said)
    assert await highlights(bob, room, bot.user_id) == []
    # Alice's own messages, the same words without m.mentions, did ping him: the test can fail.
    assert len(await highlights(bob, room, alice.user_id)) == 3


async def test_a_direct_chat_that_gains_a_third_member_is_no_longer_private(
    make_bot, make_citizen, database_url
) -> None:
    bot = make_bot(database_url=database_url)
    alice = await make_citizen("alice")
    carol = await make_citizen("carol")
    room = await alice.open_dm(bot.user_id, encrypted=True)
    await alice.say(room, *CONSENT)
    await alice.say(room, "1", "Pourquoi tout va changer")
    await alice.say(room, "Une idée à deux", "Noté (1 au total)")

    # Alice invites Carol into her direct chat with the bot: the bot says it stops there.
    await alice.client.room_invite(room, carol.user_id)
    await alice.expect(room, "plus privée")
    await alice.send(room, "Une idée devant Carol")
    await carol.wait_for(lambda: room in carol.client.invited_rooms)
    await carol.client.join(room)
    await alice.send(room, "Encore une idée devant Carol")
    # Now a group for the bot: /start answers with a new direct chat (and after the two
    # messages above, which it has read and not recorded).
    reply = await alice.say(room, "/start construire-2030", "https://matrix.to/#/")
    assert not [m for m in alice.messages(room) if "Noté (2" in m.body]
    assert [r["text"] for r in bot.export_json()] == ["Une idée à deux"]
    assert sum("plus privée" in m.body for m in alice.messages(room)) == 1

    # Alice goes on in the new direct chat, where her answers are recorded again.
    found = re.search(r"https://matrix\.to/#/(![^\s]+)", reply.body)
    assert found is not None, reply.body
    dm = found.group(1)
    await alice.wait_for(lambda: dm in alice.client.invited_rooms)
    await alice.client.join(dm)
    await alice.expect(dm, "Pourquoi tout va changer")
    await alice.say(dm, "Une idée de nouveau à deux", "Noté (2 au total)")
    assert [r["text"] for r in bot.export_json()] == [
        "Une idée à deux",
        "Une idée de nouveau à deux",
    ]
