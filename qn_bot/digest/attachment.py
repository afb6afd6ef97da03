"""The synthesis page attached to a digest: the full page, or a capped one for big campaigns.

A campaign of a million items makes a synthesis page of over 100 MB: no mail server takes it
(most refuse 25 MB), Telegram and Matrix refuse such uploads, and the outbox would store it, hex
encoded, once per chat destination. Up to :data:`FULL_MAX_ITEMS` live items the attachment is the
full page, exactly what ``qn-bot export SLUG --format html`` gives. Beyond, each text section
keeps its :data:`SECTION_CAP` latest items, headed by a line saying how many earlier ones were left
out and how to get the full page; choice and number sections are complete (one answer per
participant); counts and dates are the campaign's; the revision history (counts per day over
every revision) is left to the full export.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from qn_bot.digest.queries import StepCounts
from qn_bot.disclosure import Disclosure
from qn_bot.domain import Attachment
from qn_bot.export import render_html
from qn_bot.flows.format import Flow
from qn_bot.flows.kinds import KINDS
from qn_bot.i18n import default_catalog
from qn_bot.participants import campaign_disclosure, campaign_participants, count_participants
from qn_bot.records import CampaignRecord, ItemRecord, RevisionRecord
from qn_bot.repositories import Transaction
from qn_bot.synthesis import Bullet, Synthesis, build_synthesis, utc

FULL_MAX_ITEMS = 10_000
SECTION_CAP = 1_000


@dataclass(frozen=True, slots=True)
class CampaignTotals:
    """What a capped page states about the whole campaign."""

    per_step: Mapping[str, int]
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class SynthesisSource:
    campaign: CampaignRecord
    flow: Flow
    items: list[ItemRecord]  # every live item, or the capped selection
    revisions: list[RevisionRecord] | None  # None on a capped page: no history table
    totals: CampaignTotals | None  # set when capped
    participants: int
    disclosure: Disclosure

    @property
    def capped(self) -> bool:
        return self.totals is not None


async def load_synthesis_source(
    tx: Transaction,
    campaign: CampaignRecord,
    flow: Flow,
    counts: StepCounts | None,
    minimum: int,
    participants: int | None = None,
) -> SynthesisSource:
    """Everything the page needs; ``counts`` (from the digest's own query) decides the cap,
    ``minimum`` is the anonymity threshold that applies; ``participants`` when the caller has
    already counted them (:mod:`qn_bot.participants`)."""
    if participants is None:
        participants = count_participants(await campaign_participants(tx, campaign, flow))
    disclosure = await campaign_disclosure(tx, campaign, flow, minimum)
    if counts is None or counts.total <= FULL_MAX_ITEMS:
        items = await tx.sessions.campaign_items(campaign.id)
        revisions = await tx.sessions.campaign_revisions(campaign.id)
        return SynthesisSource(campaign, flow, items, revisions, None, participants, disclosure)
    chosen = []
    texts = {step.id for step in KINDS.free_text_steps(flow)}
    for step_id in texts:
        if disclosure.shows(step_id):  # a withheld section needs its count only
            chosen += await tx.digest.latest_items(campaign.id, step_id, SECTION_CAP)
    others = [s.id for s in flow.steps if s.id not in texts and KINDS.of(s).stores_answers]
    chosen += await tx.digest.step_items(campaign.id, others)
    chosen.sort(key=lambda i: (utc(i.created_at), i.id))
    totals = CampaignTotals(counts.total_per_step, counts.updated_at)
    return SynthesisSource(campaign, flow, chosen, None, totals, participants, disclosure)


def _capped(s: Synthesis, source: SynthesisSource, totals: CampaignTotals) -> Synthesis:
    sections = []
    for section in s.sections:
        total = totals.per_step.get(section.step_id, 0)
        if KINDS[section.kind].free_text:
            if total and not source.disclosure.shows(section.step_id):
                # None of its items were loaded: the campaign's count is what it shows.
                section = dataclasses.replace(section, count=total, withheld=True, bullets=())
            elif total > len(section.bullets):
                left = total - len(section.bullets)
                bullets = (
                    Bullet(
                        default_catalog().plural(
                            s.language, "attachment_note", left, slug=source.campaign.slug
                        )
                    ),
                    *section.bullets,
                )
                section = dataclasses.replace(section, bullets=bullets)
        sections.append(section)
    updated = s.updated_at if totals.updated_at is None else utc(totals.updated_at)
    return dataclasses.replace(s, sections=tuple(sections), updated_at=updated)


def synthesis_attachment(source: SynthesisSource, language: str, now: datetime) -> Attachment:
    flow, campaign = source.flow, source.campaign
    lang = language if language in flow.languages else flow.default_language
    synthesis = build_synthesis(
        campaign,
        flow,
        source.items,
        lang,
        now,
        participants=source.participants,
        disclosure=source.disclosure,
    )
    if source.totals is not None:
        synthesis = _capped(synthesis, source, source.totals)
    html = render_html(synthesis, source.revisions)
    return Attachment(f"synthese-{campaign.slug}.html", "text/html", html.encode("utf-8"))
