"""The Matrix adapter meeting a database locked by another program (a backup, a `sqlite3`
shell) longer than the bot's busy_timeout: what it has to record about an event (a direct chat
it opened, a citizen's pending /start) waits for the lock, instead of the event being dropped
while the sync moves past it."""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3

import pytest

from .flow import CONSENT

pytestmark = pytest.mark.integration

RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", re.MULTILINE)


def adapter_met_the_lock(log: str) -> bool:
    """A log record of the Matrix adapter (its traceback included) naming the lock."""
    starts = [m.start() for m in RECORD.finditer(log)] + [len(log)]
    records = (log[a:b] for a, b in itertools.pairwise(starts))
    return any(
        " qn_bot.adapters.matrix" in r.partition("\n")[0] and "locked by another process" in r
        for r in records
    )


async def test_a_group_start_that_met_a_locked_database_opens_the_direct_chat_after_it(
    make_bot, make_citizen
) -> None:
    alice = await make_citizen("alice")
    bob = await make_citizen("bob")
    bot = make_bot()
    resp = await alice.client.room_create(name="Équipe 2030", invite=[bob.user_id])
    group = resp.room_id
    await bob.wait_for(lambda: group in bob.client.invited_rooms)
    await bob.client.join(group)
    await alice.wait_joined(group, bob.user_id)
    await alice.client.room_invite(group, bot.user_id)
    await alice.wait_joined(group, bot.user_id)

    other = sqlite3.connect(bot.db, isolation_level=None, timeout=30, check_same_thread=False)
    await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
    try:
        await alice.send(group, "!start construire-2030")
        # Held until the adapter's own write (the direct chat it opened) gave up waiting.
        await alice.wait_for(lambda: adapter_met_the_lock(bot.log()), within=90)
    finally:
        other.execute("ROLLBACK")
        other.close()

    reply = await alice.expect(group, "https://matrix.to/#/", within=40)
    dm = re.search(r"https://matrix\.to/#/(![^\s]+)", reply.body)
    assert dm is not None, reply.body
    dm_room = dm.group(1)
    await alice.wait_for(lambda: dm_room in alice.client.invited_rooms)
    await alice.client.join(dm_room)
    await alice.expect(dm_room, CONSENT[1], within=40)
