"""Campaigns run from chat, citizens' rights and a team digest, on a real Synapse."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from tests.integration.processes import clean_env, qn_bot_command

from .bot import BotProcess
from .flow import CONSENT

pytestmark = pytest.mark.integration


def configure(bot: BotProcess, *, admins: tuple[str, ...] = (), teams: str = "") -> None:
    """Add top-level keys before the tables of the bot's config, and tables after them."""
    text = bot.config.read_text(encoding="utf-8")
    listed = ", ".join(f'"matrix:{a}"' for a in admins)
    bot.config.write_text(f"admins = [{listed}]\n{text}\n{teams}", encoding="utf-8")


def qn(bot: BotProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*qn_bot_command(), "--config", str(bot.config), *args],
        cwd=bot.workdir,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_roles_closing_notice_and_forgetting_over_matrix(
    make_bot, make_citizen, database_url
) -> None:
    animatrice = await make_citizen("animatrice")
    alice = await make_citizen("alice")
    bob = await make_citizen("bob")
    bot = make_bot(start=False, database_url=database_url)
    configure(bot, admins=(animatrice.user_id,))
    bot.start()
    rooms = {}
    for citizen in (alice, bob):
        room = await citizen.open_dm(bot.user_id, encrypted=False)
        await citizen.say(room, CONSENT[0], CONSENT[1])
        await citizen.say(room, "1", "Pourquoi tout va changer")
        await citizen.say(room, f"idée de {citizen.user_id}", "Noté (1 au total)")
        rooms[citizen.user_id] = room

    # A citizen cannot run facilitator commands; nothing changes.
    for command in ("/cloturer construire-2030", "/stats construire-2030", "/campagnes"):
        await alice.say(rooms[alice.user_id], command, "réservée aux animateurs")

    # Alice erases herself; her answer leaves the export, Bob's stays.
    await alice.say(rooms[alice.user_id], "/oublier", "effacer tout")
    await alice.say(rooms[alice.user_id], "1", "a été effacé")
    texts = [row["text"] for row in bot.export_json()]
    assert texts == [f"idée de {bob.user_id}"]

    # The admin (from the config) closes the campaign: Bob, mid-flow, is told once.
    desk = await animatrice.open_dm(bot.user_id, encrypted=False)
    await animatrice.say(desk, "/cloturer construire-2030", "clôturée")
    notice = await bob.expect(rooms[bob.user_id], "maintenant close")
    assert notice.msgtype == "m.notice"
    await bob.say(rooms[bob.user_id], "encore une idée", "est close")
    assert [row["text"] for row in bot.export_json()] == [f"idée de {bob.user_id}"]


async def test_team_digest_reaches_a_matrix_room(make_bot, make_citizen, database_url) -> None:
    alice = await make_citizen("alice")
    bot = make_bot(start=False, database_url=database_url)
    resp = await alice.client.room_create(name="Équipe 2030", invite=[bot.user_id])
    team_room = str(resp.room_id)
    configure(
        bot,
        teams=(
            "[[teams]]\n"
            'name = "equipe"\n'
            'campaigns = ["construire-2030"]\n'
            f'destinations = ["matrix:{team_room}"]\n'
            "min_respondents = 1\n"
        ),
    )
    bot.start()
    await alice.wait_joined(team_room, bot.user_id, within=30)
    dm = await alice.open_dm(bot.user_id, encrypted=False)
    await alice.say(dm, CONSENT[0], CONSENT[1])
    await alice.say(dm, "1", "Pourquoi tout va changer")
    await alice.say(dm, "<i>Les territoires</i> bougent", "Noté (1 au total)")

    sent = await asyncio.to_thread(qn, bot, "digest", "send", "equipe", "--force")
    assert sent.returncode == 0, sent.stderr
    digest = await alice.expect(team_room, "Digest", within=30)
    assert digest.msgtype == "m.notice"
    assert digest.formatted_body is not None
    assert "<i>Les territoires</i>" not in digest.formatted_body  # participant markup escaped
    assert alice.user_id not in digest.body  # nobody is named
    # The synthesis as an HTML file. No chart: the campaign began this week, so the last
    # completed week's chart would be an empty frame (qn_bot.digest.chart draws none).
    await alice.wait_for(
        lambda: "m.file" in {m.msgtype for m in alice.messages(team_room)}, within=30
    )
    names = {m.body for m in alice.messages(team_room) if m.msgtype in ("m.image", "m.file")}
    assert names == {"synthese-construire-2030.html"}
