"""A hidden item appears in no public output (SQLite, PostgreSQL): the attacker's test.

Citizens answer; an item is hidden; then every public output is produced the way the bot
produces it — the site, the team's digest (chat text, chart, attached synthesis, e-mail),
``/digest`` in chat, its themes — and searched for the hidden words. The facilitator's exports
keep them, marked; the citizen still sees them in /mes_reponses and /mes_donnees.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qn_bot.config import Config
from qn_bot.digest.period import current_period
from qn_bot.digest.send import send_digest
from qn_bot.domain import Moderation
from qn_bot.exporters import export_campaign
from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.site import export_site
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.test_erasure import MATRIX, TEAM_MAIL, TEAM_ROOM, outbox_rows, readable, team
from tests.contract.test_service import SLUG, Citizen, open_campaign

#: The hidden words: twice, so that the digest's themes would name "zorglub" if they saw them.
SECRET = ("Zorglub zorglub insulte 5f1a", "Encore zorglub zorglub 5f1b")
NEEDLES = ("zorglub", "Zorglub", "5f1a", "5f1b")
KEPT = "Des pistes cyclables partout"


@pytest.fixture
async def campaign(store: Store, clock: FixedClock) -> CampaignRecord:
    return await open_campaign(store, clock, min_respondents=1)


async def _answers(service: Service) -> tuple[Citizen, Citizen]:
    ada, bob = Citizen(service, "ada"), Citizen(service, "bob")
    await ada.join()
    for text in SECRET:
        await ada.say(text)
    await bob.join()
    await bob.say(KEPT)
    await bob.say("Des pistes cyclables sûres")
    return ada, bob


async def _hide_secret(store: Store, campaign: CampaignRecord) -> list[int]:
    async with store.transaction() as tx:
        ids = [i.id for i in await tx.moderation.items(campaign.id) if "orglub" in i.text]
        await tx.moderation.decide(campaign.id, ids, "hide", "cli", campaign.created_at)
    return ids


def _found(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


async def _public_outputs(store: Store, clock: FixedClock, tmp_path: Path, boss: Citizen) -> str:
    out: list[str] = []
    site = tmp_path / "site"
    await export_site(store, site, clock(), min_respondents=1)
    out += [page.read_text(encoding="utf-8") for page in sorted(site.iterdir())]
    config = Config.model_validate({"matrix": MATRIX, "teams": [team()]})
    period = current_period(team(), clock())
    assert await send_digest(store, config, team(), clock(), late=False, period=period)
    (digest,) = await outbox_rows(store, t.outbox.c.chat_id == TEAM_ROOM.chat_id)
    out.append(json.dumps(digest.payload, ensure_ascii=False))
    out += [
        bytes.fromhex(a["data"]).decode(errors="replace") for a in digest.payload["attachments"]
    ]
    (mail,) = await outbox_rows(store, t.outbox.c.chat_id == TEAM_MAIL.chat_id)
    out += readable(mail.payload["attachments"][0])
    # /digest in a facilitator's chat: the same digest, read on the spot.
    result = await boss.send(boss.message("/digest equipe"))
    out += [r.text for r in result.replies]
    out += [a.data.decode(errors="replace") for r in result.replies for a in r.attachments]
    return "\n".join(out)


async def test_a_hidden_item_is_in_no_public_output(
    store: Store,
    clock: FixedClock,
    pseudonyms: Pseudonyms,
    campaign: CampaignRecord,
    tmp_path: Path,
) -> None:
    service = Service(
        store, clock=clock, pseudonyms=pseudonyms, admins=("test:boss",), teams=(team(),)
    )
    ada, _ = await _answers(service)
    boss = Citizen(service, "boss")
    await _hide_secret(store, campaign)

    public = await _public_outputs(store, clock, tmp_path, boss)
    assert KEPT in public  # the outputs were made, with the visible words
    assert _found(public) == []

    # The facilitator's exports keep it, marked.
    async with store.transaction() as tx:
        rows = json.loads(await export_campaign(tx, SLUG, "json"))
        csv = await export_campaign(tx, SLUG, "csv")
        md = await export_campaign(tx, SLUG, "md")
        html = await export_campaign(tx, SLUG, "html")
    assert {r["text"]: r["hidden"] for r in rows} == {
        SECRET[0]: True,
        SECRET[1]: True,
        KEPT: False,
        "Des pistes cyclables sûres": False,
    }
    assert csv.splitlines()[0].endswith(",hidden")
    assert f"{SECRET[0]} *(masquée par la modération)*" in md
    assert "(masquée par la modération)</span>" in html
    assert SECRET[1] in html
    # Its author still sees it as theirs.
    assert SECRET[0] in await ada.say("/mes_reponses")
    data = (await ada.send(ada.message("/mes_donnees"))).replies[0].attachments[0].data
    assert SECRET[1] in data.decode()


async def test_under_pre_moderation_nothing_is_public_until_approved(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms, tmp_path: Path
) -> None:
    campaign = await open_campaign(store, clock, min_respondents=1)
    async with store.transaction() as tx:
        await tx.campaigns.set_campaign_moderation(campaign.id, Moderation.PRE)
    service = Service(
        store, clock=clock, pseudonyms=pseudonyms, admins=("test:boss",), teams=(team(),)
    )
    await _answers(service)
    async with store.transaction() as tx:
        approved = [i.id for i in await tx.moderation.items(campaign.id) if i.text == KEPT]
        await tx.moderation.decide(campaign.id, approved, "show", "cli", clock())
    public = await _public_outputs(store, clock, tmp_path, Citizen(service, "boss"))
    assert KEPT in public
    assert _found(public) == []
    assert "Des pistes cyclables sûres" not in public  # not approved either
