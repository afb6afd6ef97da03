"""/bilan's standing from the cached opinion map (SQLite, PostgreSQL): computing the map keeps
what a citizen's standing needs; reading it computes nothing and agrees with the method's own
`standing()`; the voting cards take each statement's extremity from it."""

from __future__ import annotations

import subprocess
import sys

from qn_bot.config import SiteConfig
from qn_bot.i18n import default_catalog
from qn_bot.opinion_map import compute_campaign_opinions
from qn_bot.opinion_standing import citizen_standing, extremity, load_map, render_standing
from qn_bot.opinions import standing
from qn_bot.recap.send import current_recap
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import make_participant
from tests.contract.test_opinions_store import give_items, plant
from tests.unit.test_opinions import planted


async def test_standing_from_the_cached_map(store: Store) -> None:
    data = planted()
    campaign, who = await plant(store, data)
    someone = who[next(p for p in sorted(data.camp_of) if data.camp_of[p] == 1)]
    async with store.snapshot() as tx:
        assert await citizen_standing(tx, someone, campaign.id) is None  # nothing computed yet
    assert "pas encore été calculée" in render_standing(default_catalog(), "fr", None)

    result = await compute_campaign_opinions(store, campaign, T0)
    async with store.snapshot() as tx:
        mine = await citizen_standing(tx, someone, campaign.id)
        votes = await tx.votes.participant_votes(someone, campaign.id)
        cached = await load_map(tx, campaign.id)
    assert mine is not None
    expected = standing(result, votes)
    assert mine.group_id == expected.group_id == result.history.groups[someone]
    assert [b.text for b in mine.bridges] == [b.text for b in expected.bridges]
    assert mine.groups == len(result.groups)

    text = render_standing(default_catalog(), "fr", mine)
    group = next(g for g in result.groups if g.id == mine.group_id)
    assert f"({group.size} personnes), sur 2 groupes." in text
    agreed = {s.text for s in data.statements if s.item_id in data.agreed}
    assert any(
        line.removeprefix("• «\u00a0").startswith(tuple(agreed)) for line in text.split("\n")
    )
    # Opposed statements split the camps; the agreed ones do not.
    far = extremity(cached)
    by_text = {s.text: s.item_id for s in data.statements}
    opposed = [s.text for s in data.statements if s.item_id in data.opposed]
    assert far
    assert min(far[_stored(cached, by_text, t)] for t in opposed) > max(
        far[_stored(cached, by_text, t)] for t in agreed
    )
    in_english = render_standing(default_catalog(), "en", mine)
    assert "Your votes put you closest to group" in in_english


def _stored(cached: object, by_text: dict[str, int], text: str) -> int:
    """The stored item id of a planted statement (items are stored in planted order)."""
    assert isinstance(cached, dict)
    return int(cached["statement_ids"][sorted(by_text.values()).index(by_text[text])])


def test_the_chat_never_loads_the_method() -> None:
    """The voting cards and /bilan read the cached map: numpy stays out of the bot's path."""
    code = "import sys, qn_bot.service, qn_bot.opinion_standing; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_bilan_tells_a_voter_where_they_stand(store: Store) -> None:
    """/bilan (the recap) carries the voter's place among the groups, read from the cached map;
    a citizen who never voted gets no such block."""
    data = planted()
    campaign, who = await plant(store, data)
    await compute_campaign_opinions(store, campaign, T0)
    voter = who[next(p for p in sorted(data.camp_of) if data.camp_of[p] == 1)]
    async with store.transaction() as tx:
        await give_items(tx, voter, campaign.id, "Des jardins partagés dans chaque quartier")
        author = await make_participant(tx, "author-late", "P-LATE")
        await give_items(tx, author.id, campaign.id, "Des bancs publics")
    catalog = default_catalog()
    async with store.transaction() as tx:
        participant = await tx.participants.participant_by_id(voter)
        assert participant is not None
        mine = await current_recap(
            tx, participant, SiteConfig(), T0, default_language="fr", catalog=catalog
        )
        other = await tx.participants.participant_by_id(author.id)
        assert other is not None
        theirs = await current_recap(
            tx, other, SiteConfig(), T0, default_language="fr", catalog=catalog
        )
    assert "Vos votes vous rapprochent du groupe" in mine.text
    assert "groupes d’opinion" in mine.text
    assert "groupes d’opinion" not in theirs.text
