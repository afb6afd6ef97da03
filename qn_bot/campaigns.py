"""Campaign lifecycle: draft → open → closed → archived, shared by the CLI and chat commands."""

from __future__ import annotations

import re
from datetime import datetime

from qn_bot.domain import CampaignStatus
from qn_bot.errors import CampaignError
from qn_bot.flows.format import Flow
from qn_bot.store.records import CampaignRecord
from qn_bot.store.sql import Tx

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

# Which status each transition may start from. Re-opening a closed campaign is allowed: a
# facilitator who closed too early must be able to undo it.
TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.OPEN: frozenset({CampaignStatus.DRAFT, CampaignStatus.CLOSED}),
    CampaignStatus.CLOSED: frozenset({CampaignStatus.OPEN}),
    CampaignStatus.ARCHIVED: frozenset({CampaignStatus.DRAFT, CampaignStatus.CLOSED}),
}


async def create_campaign(
    tx: Tx,
    *,
    slug: str,
    flow: Flow,
    title: str,
    now: datetime,
    edition: str | None = None,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
) -> CampaignRecord:
    if not SLUG_RE.match(slug):
        raise CampaignError(
            f"invalid slug {slug!r}: use lowercase letters, digits and dashes "
            "(e.g. construire-2030)"
        )
    if opens_at and closes_at and closes_at <= opens_at:
        raise CampaignError("--closes must come after --opens")
    return await tx.create_campaign(
        slug=slug,
        title=title,
        edition=edition,
        flow_id=flow.id,
        flow_version=flow.version,
        flow_source=flow.source,
        now=now,
        opens_at=opens_at,
        closes_at=closes_at,
    )


async def set_status(tx: Tx, slug: str, status: CampaignStatus, now: datetime) -> CampaignRecord:
    campaign = await tx.campaign_by_slug(slug)
    if campaign is None:
        raise CampaignError(f"no campaign named {slug!r} (see `qn-bot campaign list`)")
    if campaign.status is status:
        return campaign
    allowed = TRANSITIONS[status]
    if campaign.status not in allowed:
        raise CampaignError(
            f"campaign {slug!r} is {campaign.status.value}: it cannot become {status.value} "
            f"(only from {', '.join(sorted(s.value for s in allowed))})"
        )
    await tx.set_campaign_status(campaign.id, status, now)
    updated = await tx.campaign_by_id(campaign.id)
    assert updated is not None
    return updated
