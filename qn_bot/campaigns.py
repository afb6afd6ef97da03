"""Campaign lifecycle: draft → open → closed → archived, shared by the CLI and chat commands."""

from __future__ import annotations

import re
from datetime import datetime

from qn_bot.disclosure import DEFAULT_MIN_RESPONDENTS
from qn_bot.domain import Button, ButtonKind, CampaignStatus, Moderation, OutboundMessage
from qn_bot.errors import CampaignError
from qn_bot.flows.format import Flow
from qn_bot.flows.stored import campaign_flow as campaign_flow  # the service layer's callers
from qn_bot.i18n import default_catalog
from qn_bot.records import CampaignRecord
from qn_bot.repositories import Transaction

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

# Which status each transition may start from. Re-opening a closed campaign is allowed: a
# facilitator who closed too early must be able to undo it.
TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.OPEN: frozenset({CampaignStatus.DRAFT, CampaignStatus.CLOSED}),
    CampaignStatus.CLOSED: frozenset({CampaignStatus.OPEN}),
    CampaignStatus.ARCHIVED: frozenset({CampaignStatus.DRAFT, CampaignStatus.CLOSED}),
}


async def create_campaign(
    tx: Transaction,
    *,
    slug: str,
    flow: Flow,
    title: str,
    now: datetime,
    edition: str | None = None,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    min_respondents: int = DEFAULT_MIN_RESPONDENTS,
    moderation: Moderation = Moderation.POST,
) -> CampaignRecord:
    if not SLUG_RE.match(slug):
        raise CampaignError(
            f"invalid slug {slug!r}: use lowercase letters, digits and dashes "
            "(e.g. construire-2030)",
            key="bad_slug",
            slug=slug,
        )
    if opens_at and closes_at and closes_at <= opens_at:
        raise CampaignError("--closes must come after --opens", key="closes_before_opens")
    return await tx.campaigns.create_campaign(
        slug=slug,
        title=title,
        edition=edition,
        flow_id=flow.id,
        flow_version=flow.version,
        flow_source=flow.source,
        now=now,
        opens_at=opens_at,
        closes_at=closes_at,
        min_respondents=min_respondents,
        moderation=moderation,
    )


async def set_moderation(tx: Transaction, slug: str, moderation: Moderation) -> CampaignRecord:
    """Post- or pre-moderation (qn_bot.moderation): what public outputs show changes at once."""
    campaign = await tx.campaigns.campaign_by_slug(slug)
    if campaign is None:
        raise CampaignError.no_campaign(slug)
    await tx.campaigns.set_campaign_moderation(campaign.id, moderation)
    updated = await tx.campaigns.campaign_by_id(campaign.id)
    assert updated is not None
    return updated


async def set_min_respondents(tx: Transaction, slug: str, minimum: int) -> CampaignRecord:
    """Change the campaign's own anonymity threshold (public outputs apply the strictest)."""
    if minimum < 1:
        raise CampaignError(
            f"the minimum number of respondents must be at least 1, not {minimum}",
            key="bad_minimum",
            minimum=minimum,
        )
    campaign = await tx.campaigns.campaign_by_slug(slug)
    if campaign is None:
        raise CampaignError.no_campaign(slug)
    await tx.campaigns.set_campaign_min_respondents(campaign.id, minimum)
    updated = await tx.campaigns.campaign_by_id(campaign.id)
    assert updated is not None
    return updated


async def set_status(
    tx: Transaction, slug: str, status: CampaignStatus, now: datetime
) -> CampaignRecord:
    campaign = await tx.campaigns.campaign_by_slug(slug)
    if campaign is None:
        raise CampaignError.no_campaign(slug)
    if campaign.status is status:
        return campaign
    allowed = TRANSITIONS[status]
    if campaign.status not in allowed:
        raise CampaignError(
            f"campaign {slug!r} is {campaign.status.value}: it cannot become {status.value} "
            f"(only from {', '.join(sorted(s.value for s in allowed))})",
            key="transition",
            slug=slug,
            status=campaign.status,
            target=status,
            allowed=tuple(sorted(allowed, key=lambda s: s.value)),
        )
    if not await tx.campaigns.compare_and_set_status(campaign.id, campaign.status, status, now):
        raise CampaignError(
            f"campaign {slug!r} changed meanwhile; try again", key="changed", slug=slug
        )
    updated = await tx.campaigns.campaign_by_id(campaign.id)
    assert updated is not None
    if status is CampaignStatus.CLOSED:
        await notify_closed(tx, updated, now)
    return updated


async def notify_closed(tx: Transaction, campaign: CampaignRecord, now: datetime) -> int:
    """Tell, politely, the citizens who were mid-flow; what they gave is kept.

    Queued in the closing transaction with one dedupe key per citizen, so a second closing
    (after a re-opening) or a second process never sends the notice twice.
    """
    catalog = default_catalog()
    messages = {
        language: OutboundMessage(
            catalog.t(language, "campaign_closed_notice", title=campaign.title)
        )
        for language in catalog.languages  # the first one for citizens who chose none
    }
    return await tx.audiences.enqueue_to_audience(
        "mid_flow",
        campaign.id,
        messages,
        now,
        dedupe_prefix=f"closed:{campaign.id}:",
        dedupe_suffix=f":{campaign.updated_at:%Y%m%d%H%M%S}",
    )


async def apply_schedule(tx: Transaction, now: datetime) -> list[tuple[str, CampaignStatus]]:
    """Open and close the campaigns whose opens_at / closes_at has come (scheduler job)."""
    changed: list[tuple[str, CampaignStatus]] = []
    for campaign, status in await tx.campaigns.campaigns_due(now):
        if not await tx.campaigns.compare_and_set_status(campaign.id, campaign.status, status, now):
            continue  # another process got there first
        changed.append((campaign.slug, status))
        if status is CampaignStatus.CLOSED:
            updated = await tx.campaigns.campaign_by_id(campaign.id)
            assert updated is not None
            await notify_closed(tx, updated, now)
    return changed


async def invite(tx: Transaction, campaign: CampaignRecord, now: datetime) -> int:
    """Invite the opted-in citizens of earlier campaigns (those who consented and did not /stop).

    One outbox row per citizen, keyed ``invite:<campaign>:<participant>``: running it again after
    a crash queues only who was missed, and nobody gets the invitation twice.
    """
    catalog = default_catalog()
    messages = {
        language: OutboundMessage(
            catalog.t(language, "campaign_invitation", title=campaign.title, slug=campaign.slug),
            buttons=(
                Button(
                    ButtonKind.COMMAND,
                    f"start {campaign.slug}",
                    catalog.t(language, "button_join"),
                ),
            ),
        )
        for language in catalog.languages  # the first one for citizens who chose none
    }
    return await tx.audiences.enqueue_to_audience(
        "invitees", campaign.id, messages, now, dedupe_prefix=invite_prefix(campaign)
    )


def invite_prefix(campaign: CampaignRecord) -> str:
    return f"invite:{campaign.id}:"
