"""The chat side of peer voting (issue 15): the cards a citizen may be shown next, read from
the store for the participant machine (qn_bot.conversation decides, qn_bot.cards ranks; how far
each statement separates the groups comes from the last computed map, when there is one).

The campaign's statements and their vote counts are shared by every voter: read once per
campaign and kept a moment (``ttl``), so that a vote costs its own few statements, not a read
of the whole campaign. What is kept is at most ``ttl`` old: a statement hidden by moderation
or written meanwhile is left out or in as late; the citizen's own votes are always read fresh
(never the same card twice).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from qn_bot.cards import Ranking, candidates
from qn_bot.conversation import Card, Deck
from qn_bot.flows.kinds import KINDS
from qn_bot.flows.stored import campaign_flow
from qn_bot.opinion_standing import extremity, load_map
from qn_bot.records import CampaignRecord
from qn_bot.repositories import Transaction

#: How many cards a deck holds after the one on screen: the machine takes the first that is
#: not the card being voted on, and says when none is left.
_DECK_CARDS = 2


def statement_steps(campaign: CampaignRecord) -> list[str]:
    """The campaign's steps whose items are statements (voted on, mapped)."""
    return [s.id for s in KINDS.free_text_steps(campaign_flow(campaign))]


@dataclass(frozen=True, slots=True)
class _Pool:
    loaded_at: datetime
    ranking: Ranking
    texts: Mapping[int, str] = field(default_factory=dict)

    def card(self, item_id: int | None) -> Card | None:
        text = self.texts.get(item_id) if item_id is not None else None
        return None if item_id is None or text is None else Card(item_id, text)


class Decks:
    """Decks for the participant machine, from one campaign pool kept ``ttl`` long."""

    def __init__(self, rng: random.Random | None = None, ttl: timedelta = timedelta(seconds=2)):
        self.rng = rng if rng is not None else random.Random()  # noqa: S311 (a draw of cards)
        self.ttl = ttl
        self._pools: dict[int, _Pool] = {}

    async def deck(
        self,
        tx: Transaction,
        participant_id: int,
        campaign: CampaignRecord,
        on_screen: int | None,
        now: datetime,
        *,
        voted: set[int] | None = None,
    ) -> Deck:
        """``voted``: the citizen's voted items when the caller read them already."""
        pool = await self._pool(tx, campaign, now)
        seen = (
            set(voted)
            if voted is not None
            else await tx.votes.voted_items(participant_id, campaign.id)
        )
        if on_screen is not None:
            seen.add(on_screen)
        picks = pool.ranking.draw(participant_id, seen, self.rng, count=_DECK_CARDS)
        cards = [pool.card(item) for item in picks]
        return Deck(pool.card(on_screen), tuple(card for card in cards if card is not None))

    async def _pool(self, tx: Transaction, campaign: CampaignRecord, now: datetime) -> _Pool:
        pool = self._pools.get(campaign.id)
        if pool is not None and timedelta(0) <= now - pool.loaded_at < self.ttl:
            return pool
        steps = statement_steps(campaign)
        statements = await tx.votes.public_statements(campaign.id, steps)
        counts = await tx.votes.vote_counts(campaign.id, steps)
        far = extremity(await load_map(tx, campaign.id))
        pool = _Pool(
            now,
            Ranking(candidates([(s.item_id, s.participant_id) for s in statements], counts, far)),
            {s.item_id: s.text for s in statements},
        )
        self._pools[campaign.id] = pool
        return pool

    def forget(self) -> None:
        """Read the pools again at the next deck (after moderation, in tests)."""
        self._pools.clear()
