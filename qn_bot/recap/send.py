"""Recap waves and /bilan: each citizen's recap, exactly once per citizen and wave.

A **wave** ends when a team's weekly digest goes out (``week-<period start>``: the citizens who
gave or changed an idea that week), when a campaign closes (``closed``: everyone who answered),
or with ``qn-bot recap send SLUG`` (``--wave NAME``, by default the day: running it twice the same
day sends nothing more).

How "exactly once" holds, with several processes and across a crash — the digests' claim-row
pattern (:mod:`qn_bot.digest.send`), one row per citizen:

1. The campaign is read and its themes made once per wave, in a snapshot (no write lock held).
2. Citizens are then handled a chunk per transaction: for each, the job key
   ``recap:<campaign id>:<wave>:<participant id>`` is claimed (``INSERT … ON CONFLICT DO
   NOTHING``: one process ever gets it) and, in the same commit, the recap is queued in the
   outbox under the same dedupe key. A crash loses a chunk whole (claims and rows together), and
   the next run sends it; a process that loses a claim skips that citizen.
3. A wave is marked done (kv ``recap-wave:<campaign id>:<wave>``) only when every chunk is
   committed; :func:`send_due_waves` (the scheduler's tick) runs again any due wave not marked
   done, so a wave a crash interrupted is finished by whichever process ticks next.
4. The outbox worker sends at the platform's pace and retries; /stop before the send drops
   nothing already queued (the citizen asked before: the recap was due), but a citizen who
   stopped is never queued one.

Themes come from :func:`qn_bot.recap.themes.item_themes`; what a recap may say of others is
decided in :mod:`qn_bot.recap.model`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from qn_bot.config import Config, SiteConfig
from qn_bot.digest.period import Period, completed_period
from qn_bot.digest.send import last_sent_period
from qn_bot.disclosure import strictest
from qn_bot.domain import CampaignStatus, OutboundMessage
from qn_bot.errors import CampaignError
from qn_bot.flows.stored import campaign_flow
from qn_bot.i18n import Catalog, default_catalog
from qn_bot.moderation import shown_to
from qn_bot.opinion_standing import citizen_standing, render_standing
from qn_bot.participants import campaign_participants
from qn_bot.recap.model import CampaignData, Recap, build_recap, prepare
from qn_bot.recap.render import render_recap
from qn_bot.records import CampaignRecord, ParticipantRecord
from qn_bot.repositories import Database, Transaction
from qn_bot.synthesis import utc

log = logging.getLogger(__name__)

OWNER = f"{socket.gethostname()}:{os.getpid()}"
#: Citizens handled per transaction: short write locks, few commits.
CHUNK = 100
CLOSED_WAVE = "closed"
#: A campaign closed longer ago than this gets no "closed" wave (one closed before recaps
#: existed, or while the bot was down for long).
CLOSED_WAVE_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Wave:
    name: str
    #: only citizens who gave or changed an idea in [since, until) (None: everyone who answered)
    since: datetime | None = None
    until: datetime | None = None


def weekly_wave(period: Period) -> Wave:
    return Wave(f"week-{period.start_date.isoformat()}", period.start, period.end)


def manual_wave(now: datetime, name: str | None = None) -> Wave:
    return Wave(name if name is not None else f"day-{utc(now).date().isoformat()}")


def job_key(campaign: CampaignRecord, wave: Wave, participant_id: int) -> str:
    return f"recap:{campaign.id}:{wave.name}:{participant_id}"[:255]


def _done_key(campaign: CampaignRecord, wave: Wave) -> str:
    return f"recap-wave:{campaign.id}:{wave.name}"[:255]


def recap_minimum(site: SiteConfig, campaign: CampaignRecord) -> int:
    """A recap is a public output: the site's threshold and the campaign's, the stricter."""
    return strictest(site.min_respondents, campaign.min_respondents)


def synthesis_link(site: SiteConfig, campaign: CampaignRecord) -> str | None:
    """The campaign's page on the published site (``qn-bot export-site`` names it)."""
    if site.base_url is None:
        return None
    from qn_bot.site import PUBLISHED, page_name  # the site's imports (rich): only when linked

    if campaign.status not in PUBLISHED:
        return None
    return f"{site.base_url.rstrip('/')}/{page_name(campaign.slug, set())}"


def language_for(participant: ParticipantRecord, data: CampaignData) -> str:
    languages = data.flow.languages
    return participant.language if participant.language in languages else languages[0]


async def read_campaign(
    tx: Transaction, campaign: CampaignRecord, site: SiteConfig
) -> CampaignData:
    flow = campaign_flow(campaign)
    items = await tx.sessions.campaign_items(campaign.id, include_hidden=True)
    # Stored vectors only: a recap (and /bilan) never waits for the embedding model. (Imported
    # here: the themes bring numpy, which the chat's code does not load until a recap is made.)
    from qn_bot.themes.embedding import MODEL_NAME

    vectors = await tx.vectors.campaign_vectors(campaign.id, MODEL_NAME)
    return await asyncio.to_thread(
        prepare, campaign, flow, items, recap_minimum(site, campaign), vectors
    )


def recap_message(recap: Recap, catalog: Catalog) -> OutboundMessage:
    return OutboundMessage(render_recap(recap, catalog))


async def show(tx: Transaction, viewer: ParticipantRecord, recap: Recap, now: datetime) -> None:
    """The one idea of someone else a recap quotes is the one /signaler flags."""
    if recap.example is not None:
        await shown_to(tx, viewer, recap.example.item_id, now)


# ---------------------------------------------------------------------- waves


@dataclass(frozen=True, slots=True)
class WaveResult:
    queued: int  # recaps this call queued
    already: int  # claimed before (another process, an earlier run)
    skipped: int  # stopped, unreachable or erased citizens


def _recipients(data: CampaignData, participants: set[int], wave: Wave) -> list[int]:
    """Who answered (and, for a week, gave or changed an idea in it), by id."""
    chosen = []
    for participant_id in sorted(participants):
        own = data.own.get(participant_id, ())
        if wave.since is not None or wave.until is not None:
            own = tuple(
                i
                for i in own
                if any(
                    (wave.since is None or wave.since <= utc(at))
                    and (wave.until is None or utc(at) < wave.until)
                    for at in (i.created_at, i.updated_at)
                )
            )
        if own:
            chosen.append(participant_id)
    return chosen


async def send_wave(
    store: Database,
    campaign: CampaignRecord,
    wave: Wave,
    site: SiteConfig,
    now: datetime,
    *,
    catalog: Catalog | None = None,
    chunk: int = CHUNK,
    standing: Callable[[ParticipantRecord], Sequence[str]] | None = None,
) -> WaveResult:
    """Queue the recap of every citizen of ``wave`` who has not had it (see the module)."""
    catalog = catalog if catalog is not None else default_catalog()
    async with store.snapshot() as tx:
        data = await read_campaign(tx, campaign, site)
        people = {p.participant for p in await campaign_participants(tx, campaign, data.flow)}
    link = synthesis_link(site, campaign)
    recipients = _recipients(data, people, wave)
    queued = already = skipped = 0
    for start in range(0, len(recipients), chunk):
        async with store.transaction() as tx:
            for participant_id in recipients[start : start + chunk]:
                participant = await tx.participants.participant_by_id(participant_id)
                if participant is None or participant.stopped or participant.unreachable:
                    skipped += 1
                    continue
                recap = build_recap(
                    data,
                    participant_id,
                    language_for(participant, data),
                    link=link,
                    standing=() if standing is None else standing(participant),
                )
                if recap is None:
                    continue
                key = job_key(campaign, wave, participant_id)
                if not await tx.idempotency.claim_job(key, OWNER, now):
                    already += 1
                    continue
                await tx.outbox.enqueue(
                    participant.reply_to,
                    recap_message(recap, catalog),
                    now,
                    participant_id=participant.id,
                    dedupe_key=key,
                )
                await show(tx, participant, recap, now)
                queued += 1
    async with store.transaction() as tx:
        await tx.kv.kv_set(_done_key(campaign, wave), {"queued": queued}, now)
    log.info(
        "recap wave %s of campaign %s: %d queued, %d already sent, %d not reachable",
        wave.name,
        campaign.slug,
        queued,
        already,
        skipped,
        extra={"campaign": campaign.slug},
    )
    return WaveResult(queued, already, skipped)


async def send_campaign_wave(
    store: Database, config: Config, slug: str, wave: Wave, now: datetime
) -> WaveResult:
    """``qn-bot recap send SLUG``."""
    async with store.snapshot() as tx:
        campaign = await tx.campaigns.campaign_by_slug(slug)
    if campaign is None:
        raise CampaignError.no_campaign(slug)
    if campaign.status is CampaignStatus.DRAFT:
        raise CampaignError(
            f"campaign {slug!r} is a draft: nobody has answered it yet", key="draft", slug=slug
        )
    return await send_wave(store, campaign, wave, config.site, now)


async def due_waves(
    store: Database, config: Config, now: datetime
) -> list[tuple[CampaignRecord, Wave]]:
    """Waves that have ended and are not marked done: each team's last week once its digest was
    claimed (for its open campaigns), and campaigns closed in the last days."""
    found: dict[tuple[int, str], tuple[CampaignRecord, Wave]] = {}
    for team in config.teams:
        period = completed_period(team, now)
        last = await last_sent_period(store, team.name)
        if last is None or last < period.start_date:
            continue  # the digest goes first: the week is not over for this team yet
        async with store.snapshot() as tx:
            for slug in team.campaigns:
                campaign = await tx.campaigns.campaign_by_slug(slug)
                if campaign is not None and campaign.status is CampaignStatus.OPEN:
                    wave = weekly_wave(period)
                    found[(campaign.id, wave.name)] = (campaign, wave)
    async with store.snapshot() as tx:
        for campaign in await tx.campaigns.campaigns(CampaignStatus.CLOSED):
            if utc(campaign.updated_at) >= now - CLOSED_WAVE_WINDOW:
                found[(campaign.id, CLOSED_WAVE)] = (campaign, Wave(CLOSED_WAVE))
        due = []
        for campaign, wave in found.values():
            if await tx.kv.kv_get(_done_key(campaign, wave)) is None:
                due.append((campaign, wave))
    return due


async def send_due_waves(store: Database, config: Config, now: datetime) -> int:
    """The scheduler's tick: run every due wave (again, after a crash). Recaps queued."""
    queued = 0
    for campaign, wave in await due_waves(store, config, now):
        queued += (await send_wave(store, campaign, wave, config.site, now)).queued
    return queued


# ---------------------------------------------------------------------- /bilan


async def current_recap(
    tx: Transaction,
    participant: ParticipantRecord,
    site: SiteConfig,
    now: datetime,
    *,
    default_language: str,
    catalog: Catalog,
) -> OutboundMessage:
    """/bilan: the recap of the citizen's current campaign (the one they are in if they gave
    ideas there, else the one they last gave an idea in), as of now."""
    campaign = await _recap_campaign(tx, participant)
    language = participant.language if participant.language is not None else default_language
    if campaign is None:
        return OutboundMessage(catalog.t(language, "recap_nothing"))
    data = await read_campaign(tx, campaign, site)
    language = language_for(participant, data)
    recap = build_recap(
        data,
        participant.id,
        language,
        link=synthesis_link(site, campaign),
        standing=await _standing(tx, participant, campaign, language, catalog),
    )
    if recap is None:
        return OutboundMessage(catalog.t(language, "recap_nothing"))
    await show(tx, participant, recap, now)
    return recap_message(recap, catalog)


async def _standing(
    tx: Transaction,
    participant: ParticipantRecord,
    campaign: CampaignRecord,
    language: str,
    catalog: Catalog,
) -> tuple[str, ...]:
    """A voter's place among the opinion groups, from the last computed map (issue 15); nothing
    for a citizen who has not voted. Read from the cache: the method never runs here."""
    if not await tx.votes.participant_votes(participant.id, campaign.id):
        return ()
    standing = await citizen_standing(tx, participant.id, campaign.id)
    return tuple(render_standing(catalog, language, standing).splitlines())


async def _recap_campaign(tx: Transaction, participant: ParticipantRecord) -> CampaignRecord | None:
    answered = [
        item
        for item in await tx.sessions.participant_items(participant.id)
        if not item["deleted"] and item["text"]
    ]
    if not answered:
        return None
    slugs = [str(item["campaign"]) for item in answered]
    if participant.active_campaign_id is not None:
        active = await tx.campaigns.campaign_by_id(participant.active_campaign_id)
        if active is not None and active.slug in slugs:
            return active
    return await tx.campaigns.campaign_by_slug(slugs[-1])
