"""Load, crashes and outages: 20 citizens at once, SIGKILL of the bot, Synapse down for 10 s."""

from __future__ import annotations

import asyncio
import time

import pytest

from .flow import CONSENT

pytestmark = pytest.mark.integration

CITIZENS = 20


async def test_twenty_citizens_at_once(make_bot, make_citizen) -> None:
    bot = make_bot()
    citizens = await asyncio.gather(*(make_citizen("crowd") for _ in range(CITIZENS)))

    async def one(index: int) -> float:
        citizen = citizens[index]
        room = await citizen.open_dm(bot.user_id, encrypted=False)
        started = time.monotonic()
        await citizen.say(room, *CONSENT, within=60)
        await citizen.say(room, "1", "Pourquoi tout va changer", within=60)
        await citizen.say(room, f"Idée du citoyen {index}", "Noté (1 au total)", within=60)
        await citizen.say(room, "/suivant", "Ce qui meurt", within=60)
        return time.monotonic() - started

    started = time.monotonic()
    durations = await asyncio.gather(*(one(i) for i in range(CITIZENS)))
    elapsed = time.monotonic() - started
    rows = bot.export_json()
    assert sorted(r["text"] for r in rows) == sorted(
        f"Idée du citoyen {i}" for i in range(CITIZENS)
    )
    print(
        f"{CITIZENS} citizens x 4 exchanges: {elapsed:.1f}s (slowest citizen {max(durations):.1f}s)"
    )


async def test_bot_killed_mid_flow_and_restarted(make_bot, make_citizen, database_url) -> None:
    bot = make_bot(database_url=database_url)
    alice = await make_citizen()
    room = await alice.open_dm(bot.user_id, encrypted=True)
    await alice.say(room, *CONSENT)
    await alice.say(room, "1", "Pourquoi tout va changer")
    old_token = bot.kv("sync_token")
    assert old_token is not None, "the bot saved no sync position"
    await alice.say(room, "Avant le crash", "Noté (1 au total)")

    # Crash right after a message was sent (handled or not, we cannot tell), then write more
    # while the bot is dead.
    await alice.send(room, "Pendant le crash")
    bot.kill()
    await alice.send(room, "Bot absent")
    # As if the crash had come after handling events but before saving the sync position:
    # the restarted bot is served "Avant le crash" (and maybe more) again and must not answer.
    bot.set_kv("sync_token", old_token)
    restart = time.monotonic()
    bot.start()
    await alice.expect(room, "Noté (3 au total)", within=30)
    print(f"answered {time.monotonic() - restart:.1f}s after the restart began")
    await alice.say(room, "Après le crash", "Noté (4 au total)")
    await asyncio.sleep(2)  # let any replayed message show up

    bodies = [m.body for m in alice.messages(room)]
    for count in range(1, 5):
        noted = [b for b in bodies if f"Noté ({count} au total)" in b]
        assert len(noted) == 1, f"reply for item {count} sent {len(noted)} times: {bodies}"
    assert sum("Acceptez-vous" in b for b in bodies) == 1
    rows = bot.export_json()
    assert [r["text"] for r in rows] == [
        "Avant le crash",
        "Pendant le crash",
        "Bot absent",
        "Après le crash",
    ]
    assert "restored device" in bot.log(), "the restarted bot must reuse its device"


async def test_homeserver_down_for_10_seconds(make_bot, make_citizen, synapse) -> None:
    # Bot A stays up through the outage; bot B is restarted while the homeserver is down. Long
    # enough for bot A's retries to reach their cap (0.5, 1, 2, then 3 s: adapters/matrix/sync.py).
    bot_a, bot_b = make_bot(), make_bot()
    alice, bruno = await make_citizen(), await make_citizen()
    room_a = await alice.open_dm(bot_a.user_id, encrypted=True)
    room_b = await bruno.open_dm(bot_b.user_id, encrypted=True)
    for citizen, room in ((alice, room_a), (bruno, room_b)):
        await citizen.say(room, *CONSENT)
        await citizen.say(room, "1", "Pourquoi tout va changer")
        await citizen.say(room, "Avant la panne", "Noté (1 au total)")

    synapse.stop()
    await asyncio.sleep(5)
    bot_b.kill()
    bot_b.start(wait=False)
    await asyncio.sleep(5)
    synapse.start()
    back = time.monotonic()
    await alice.say(room_a, "Après la panne", "Noté (2 au total)", within=30)
    print(f"bot A answered {time.monotonic() - back:.1f}s after Synapse came back")
    await asyncio.to_thread(bot_b.wait_ready, 20)
    await bruno.say(room_b, "Après la panne", "Noté (2 au total)", within=30)
    print(f"bot B answered {time.monotonic() - back:.1f}s after Synapse came back")

    for bot, citizen, room in ((bot_a, alice, room_a), (bot_b, bruno, room_b)):
        assert bot.proc is not None
        assert bot.proc.poll() is None, "the bot must survive the outage"
        assert "homeserver unreachable" in bot.log()
        assert [r["text"] for r in bot.export_json()] == ["Avant la panne", "Après la panne"]
        bodies = [m.body for m in citizen.messages(room)]
        assert sum("Noté (1 au total)" in b for b in bodies) == 1
    assert "retrying in 3.0s" in bot_a.log(), "bot A's retries never reached their cap"


async def test_revoked_token_logs_in_again(make_bot, make_citizen, synapse) -> None:
    bot = make_bot()
    alice = await make_citizen()
    room = await alice.open_dm(bot.user_id, encrypted=False)
    await alice.say(room, *CONSENT)
    await alice.say(room, "1", "Pourquoi tout va changer")
    device = bot.log().split("new device ")[1].split()[0]
    synapse.delete_device(bot.user_id, device)  # revokes its access token too
    await alice.say(room, "Après la révocation", "Noté (1 au total)", within=30)
    assert "access token rejected" in bot.log()
