"""A campaign's opinion map: the store read, the computation off the event loop, and the
groups saved for the next one (stable groups). Used by `qn-bot opinions`, the digest and the
site; the method itself is qn_bot.opinions (pure).

Statements are the live items of the campaign's free-text steps (list, text) as
:meth:`qn_bot.repositories.VoteRepository.public_statements` reads them — the one place where
moderation's filter keeps hidden items out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from qn_bot.errors import CampaignError
from qn_bot.opinion_standing import save_map
from qn_bot.opinions import GroupHistory, KChoice, OpinionMap, compute_opinions
from qn_bot.opinions.report import digest_lines
from qn_bot.records import CampaignRecord
from qn_bot.repositories import Database, Transaction
from qn_bot.voting import statement_steps

Progress = Callable[[str], None]


def _kv_key(campaign_id: int) -> str:
    return f"opinions:{campaign_id}:k"


async def read_history(tx: Transaction, campaign_id: int) -> GroupHistory:
    stored = await tx.kv.kv_get(_kv_key(campaign_id))
    choice = KChoice()
    if isinstance(stored, dict):
        choice = KChoice(stored.get("k"), stored.get("challenger"), int(stored.get("streak", 0)))
    return GroupHistory(await tx.votes.last_groups(campaign_id), choice)


async def compute_campaign_opinions(
    db: Database,
    campaign: CampaignRecord,
    now: datetime,
    *,
    save: bool = True,
    progress: Progress | None = None,
    min_group_size: int | None = None,
) -> OpinionMap:
    """Read the campaign's statements and votes on one snapshot, compute in a thread (the chat
    never waits for it), then save the groups it found (``save``) for the next computation.
    ``min_group_size``: the anonymity threshold, the campaign's unless a stricter one is given."""
    say = progress or (lambda _: None)
    steps = statement_steps(campaign)
    say("reading votes")
    async with db.snapshot() as tx:
        statements = await tx.votes.public_statements(campaign.id, steps)
        votes = await tx.votes.vote_columns(campaign.id)
        history = await read_history(tx, campaign.id)
    say(f"computing: {len(votes)} votes on {len(statements)} statements")
    result = await asyncio.to_thread(
        compute_opinions,
        statements,
        votes,
        history,
        min_group_size=max(campaign.min_respondents, min_group_size or 0),
    )
    async with db.transaction() as tx:
        # The last map, for /bilan and the voting cards: they read it, never compute it.
        await save_map(tx, campaign.id, result, now)
        if save and result.history != history:
            say("saving groups")
            await tx.votes.save_groups(campaign.id, result.history.groups)
            k = result.history.k
            await tx.kv.kv_set(
                _kv_key(campaign.id),
                {"k": k.k, "challenger": k.challenger, "streak": k.streak},
                now,
            )
    return result


async def campaign_opinions(
    db: Database, slug: str, now: datetime, *, progress: Progress | None = None
) -> tuple[CampaignRecord, OpinionMap]:
    async with db.snapshot() as tx:
        campaign = await tx.campaigns.campaign_by_slug(slug)
    if campaign is None:
        raise CampaignError.no_campaign(slug)
    return campaign, await compute_campaign_opinions(db, campaign, now, progress=progress)


async def digest_blocks(
    db: Database,
    campaigns: Sequence[CampaignRecord],
    language: str,
    now: datetime,
    minimum: Callable[[CampaignRecord], int],
) -> dict[str, tuple[str, ...]]:
    """Per campaign slug, the digest's opinion block (campaigns without votes: none). Nothing
    is saved: a digest reads the groups, the `opinions` command and the chat's recomputations
    move them on."""
    blocks: dict[str, tuple[str, ...]] = {}
    for campaign in campaigns:
        result = await compute_campaign_opinions(
            db, campaign, now, save=False, min_group_size=minimum(campaign)
        )
        lines = digest_lines(result, language)
        if lines:
            blocks[campaign.slug] = lines
    return blocks
