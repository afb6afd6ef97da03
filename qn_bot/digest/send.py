"""Sending digests: exactly once per team and period, to chats and e-mail addresses alike.

How "exactly once" holds, also with several bot processes on one database:

1. The digest is read and rendered first, outside any write transaction (rendering a chart takes
   a moment and SQLite would hold its write lock meanwhile), and so is each e-mail.
2. One transaction then claims the job ``digest:<team>:<period-start>`` (``INSERT … ON CONFLICT DO
   NOTHING``: only one process ever gets it) and, in the same commit, queues one outbox row per
   destination (dedupe key ``digest:<team>:<period>:<destination>``). Whoever loses the claim
   does nothing.
3. The outbox worker sends the rows: chats through their adapters, ``mailto:`` addresses through
   the e-mail adapter (SMTP). Committed rows are never lost, are retried with backoff by the
   running bot, and each has a status (sent, pending with its last error, failed).

An e-mail is built once, when it is queued, and stored whole as its row's payload: every attempt
sends the same bytes with the same Message-ID (derived from the digest's key and the address),
so the one resend a crash can cause (after the server accepted, before the row was marked sent)
is recognised by mail clients and lists as one message. One address refused by the server fails
only its own row.

A destination this configuration cannot reach (a Matrix room with no ``[matrix]`` account) gets
no row: it is logged, and `qn-bot digest send` names it.

A digest missed while the bot was down (no process held the schedule at the send time) is found
at start by :func:`catch_up` through :func:`qn_bot.digest.period.due_periods` and sent once, marked
late; its key is the same as the on-time one would have been, so it cannot be sent twice either.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import importlib
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib.metadata import entry_points

from qn_bot.config import Config, TeamConfig
from qn_bot.digest.attachment import SynthesisSource, load_synthesis_source, synthesis_attachment
from qn_bot.digest.email import build_email, chart_cid
from qn_bot.digest.model import DEFAULT_CAP, CampaignFacts, CampaignInput, Digest, build_digest
from qn_bot.digest.period import (
    Period,
    completed_period,
    current_period,
    due_periods,
    recent_periods,
)
from qn_bot.digest.queries import StepCounts, period_facts
from qn_bot.digest.render import (
    render_chat_text,
    render_html,
    render_preview,
    render_text,
    subject,
)
from qn_bot.disclosure import strictest
from qn_bot.domain import Address, Attachment, CampaignStatus, OutboundMessage
from qn_bot.errors import CampaignError
from qn_bot.flows.format import Flow
from qn_bot.flows.stored import campaign_flow
from qn_bot.participants import Participation, campaign_participants, count_participants
from qn_bot.ports import Capabilities, declared_capabilities
from qn_bot.records import CampaignRecord
from qn_bot.repositories import Database, Transaction

log = logging.getLogger(__name__)

#: Who claimed a job, for people reading the job_runs table.
OWNER = f"{socket.gethostname()}:{os.getpid()}"
CHART_WEEKS = 8
#: A send a scheduler fires a little early still reports on the week that is ending.
SCHEDULE_TOLERANCE = timedelta(minutes=2)
MAILTO = "mailto"
#: How the outbox stores a ready-made e-mail (see qn_bot.adapters.email).
RFC822 = "message/rfc822"
#: A missed digest sent this soon after its time (a restart at 09:00:30) is not called late.
LATE_GRACE = timedelta(minutes=15)


# --- destinations --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Destination:
    """A team destination as configured, and why this configuration cannot reach it (if so)."""

    raw: str  # "matrix:!room:example.org", "mailto:equipe@example.org"
    address: Address
    unreachable: str | None = None


def unreachable_reason(config: Config, platform: str) -> str | None:
    """Why no adapter of this configuration can deliver to ``platform``; None when one can."""
    if platform == MAILTO:
        return None
    if platform == "telegram":
        return None if config.telegram.token is not None else "no [telegram] token is configured"
    if platform == "matrix":
        configured = config.matrix.homeserver and config.matrix.user_id
        return None if configured else "no [matrix] account is configured"
    if platform == "console":
        return "a console chat cannot receive digests"
    if platform in {ep.name for ep in entry_points(group="qn_bot.adapters")}:
        return None
    return f"no adapter for the platform {platform!r} is installed"


def destinations(config: Config, team: TeamConfig) -> list[Destination]:
    """Every destination of ``team`` (the config checked their form when it was loaded)."""
    out = []
    for raw in team.destinations:
        try:
            address = Address.parse(raw)
        except ValueError:
            log.error(
                "team %s: destination %r is not PLATFORM:CHAT or mailto:ADDRESS", team.name, raw
            )
            continue
        out.append(Destination(raw, address, unreachable_reason(config, address.platform)))
    return out


def email_destinations(team: TeamConfig) -> list[str]:
    return [raw.removeprefix("mailto:") for raw in team.destinations if raw.startswith("mailto:")]


def destination_key(send_key: str, destination: str) -> str:
    """The outbox dedupe key of one destination of one digest (at most 255 characters)."""
    key = f"{send_key}:{destination}"
    if len(key) <= 255:
        return key
    return f"{send_key}:sha256-{hashlib.sha256(destination.encode()).hexdigest()}"


def find_team(config: Config, name: str) -> TeamConfig:
    for team in config.teams:
        if team.name == name:
            return team
    known = ", ".join(t.name for t in config.teams) or "none configured"
    raise CampaignError(
        f"no team named {name!r} in the configuration (teams: {known})",
        key="no_team",
        team=name,
        teams=known,
    )


# --- reading -------------------------------------------------------------------------------------


async def load_inputs(tx: Transaction, team: TeamConfig) -> list[CampaignInput]:
    """Every item of the team's campaigns, as records: for small campaigns and callers that do
    not know the period yet. :func:`load_team_data` with a period counts in SQL instead."""
    inputs = []
    for campaign, flow in await _campaigns(tx, team):
        inputs.append(
            CampaignInput(
                campaign=campaign,
                flow=flow,
                items=await tx.sessions.campaign_items(campaign.id),
                sessions=await campaign_participants(tx, campaign, flow),
            )
        )
    return inputs


def team_minimum(team: TeamConfig, campaign: CampaignRecord) -> int:
    """The anonymity threshold of ``campaign`` in ``team``'s digest: the stricter of the two."""
    return strictest(team.min_respondents, campaign.min_respondents)


async def _campaigns(tx: Transaction, team: TeamConfig) -> list[tuple[CampaignRecord, Flow]]:
    found = []
    for slug in team.campaigns:
        campaign = await tx.campaigns.campaign_by_slug(slug)
        if campaign is None:
            log.warning("team %s: no campaign named %r", team.name, slug)
            continue
        found.append((campaign, campaign_flow(campaign)))
    return found


# --- building ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestPackage:
    """A digest rendered for every destination."""

    digest: Digest
    chat_text: str  # all of it: the e-mail's text part; a chat gets what fits one message
    charts: dict[str, bytes]  # campaign slug → PNG
    syntheses: tuple[Attachment, ...]
    # Campaign slug → PNG of its sections' top themes over the weeks (qn_bot.digest.theme_chart).
    theme_charts: dict[str, bytes] = dataclasses.field(default_factory=dict)

    def chart_attachments(self) -> tuple[Attachment, ...]:
        return tuple(
            Attachment(f"digest-{slug}.png", "image/png", png) for slug, png in self.charts.items()
        ) + tuple(
            Attachment(f"themes-{slug}.png", "image/png", png)
            for slug, png in self.theme_charts.items()
        )

    def chat_message(self, platform: str | None = None) -> OutboundMessage:
        """The digest as one chat message of ``platform`` (its declared ``max_text_length``;
        the default one when the platform is not known)."""
        capabilities = Capabilities() if platform is None else declared_capabilities(platform)
        return OutboundMessage(
            text=render_chat_text(self.digest, capabilities.max_text_length),
            attachments=self.chart_attachments() + self.syntheses,
        )


def team_digest(
    team: TeamConfig,
    inputs: Sequence[CampaignInput | CampaignFacts],
    period: Period,
    now: datetime,
    *,
    late: bool = False,
) -> Digest:
    return build_digest(
        team.name,
        team.language,
        period,
        period.previous(team),
        inputs,
        now=now,
        late=late,
        min_respondents=team.min_respondents,
        chart_periods=recent_periods(team, period, CHART_WEEKS),
    )


@dataclass(frozen=True, slots=True)
class TeamData:
    """Everything a team's digest is made from, read in one transaction."""

    inputs: list[CampaignInput] | list[CampaignFacts]
    syntheses: list[SynthesisSource]
    period: Period | None  # the period ``inputs`` were counted for (facts only)
    opinions: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # by slug


async def load_team_data(
    tx: Transaction, team: TeamConfig, period: Period | None = None, *, syntheses: bool = True
) -> TeamData:
    """With ``period``, the digest is counted by the database and the items of a big campaign
    are never all loaded; without, every item is read (fine for small campaigns only).
    ``syntheses=False`` skips what only the attached synthesis needs (a preview)."""
    if period is None:
        inputs = await load_inputs(tx, team)
        sources = [
            await load_synthesis_source(
                tx, d.campaign, d.flow, None, team_minimum(team, d.campaign)
            )
            for d in inputs
        ]
        return TeamData(inputs, sources, None)
    facts, sources = [], []
    for campaign, flow in await _campaigns(tx, team):
        minimum = team_minimum(team, campaign)

        async def read_synthesis(
            counts: StepCounts,
            people: Sequence[Participation],
            campaign: CampaignRecord = campaign,
            flow: Flow = flow,
            minimum: int = minimum,
        ) -> None:
            if syntheses:
                source = await load_synthesis_source(
                    tx, campaign, flow, counts, minimum, count_participants(people)
                )
                sources.append(source)

        fact, _ = await period_facts(
            tx,
            campaign,
            flow,
            period,
            period.previous(team),
            team.language,
            cap=DEFAULT_CAP,
            enough=minimum,
            chart_periods=recent_periods(team, period, CHART_WEEKS),
            while_folding=read_synthesis,
            while_counting=_import_chart if syntheses else None,
        )
        facts.append(fact)
    return TeamData(facts, sources, period)


def _import_chart() -> None:
    # matplotlib takes a few tenths of a second to import, once per process: while the database
    # counts, the interpreter is free for it.
    importlib.import_module("qn_bot.digest.chart")


def render_package(
    team: TeamConfig, data: TeamData, period: Period, now: datetime, *, late: bool
) -> DigestPackage:
    """Render for every destination (CPU only: run it in a thread, outside any transaction)."""
    if data.period is not None and data.period != period:
        raise ValueError(f"data counted for {data.period.key}, not {period.key}")
    digest = with_opinions(team_digest(team, data.inputs, period, now, late=late), data.opinions)
    capped = any(source.capped for source in data.syntheses)
    if capped:
        digest = dataclasses.replace(digest, capped_syntheses=True)
    syntheses = tuple(synthesis_attachment(s, team.language, now) for s in data.syntheses)
    from qn_bot.digest.chart import render_chart  # matplotlib: ~40 MB, only when drawing
    from qn_bot.digest.theme_chart import render_theme_chart

    drawn = {c.slug: render_chart(c, team.language, team.timezone) for c in digest.campaigns}
    charts = {slug: png for slug, png in drawn.items() if png is not None}
    themed = {
        c.slug: render_theme_chart(c, team.language, team.timezone)
        for c in digest.campaigns
        if c.theme_lines
    }
    theme_charts = {slug: png for slug, png in themed.items() if png is not None}
    return DigestPackage(digest, render_text(digest), charts, syntheses, theme_charts)


async def with_theme_history(
    store: Database, team: TeamConfig, data: TeamData, period: Period, now: datetime
) -> TeamData:
    """The facts with their themes across the weeks and their links between sections (the
    kept weeks read, the missing ones kept: :mod:`qn_bot.themes.digest_history`)."""
    facts = [d for d in data.inputs if isinstance(d, CampaignFacts)]
    if data.period is None or not facts:
        return data  # read as records: small campaigns without vectors
    from qn_bot.themes.digest_history import with_history

    periods = recent_periods(team, period, CHART_WEEKS)
    inputs = [await with_history(store, f, periods, team.language, now) for f in facts]
    return dataclasses.replace(data, inputs=inputs)


async def build_package(
    store: Database, team: TeamConfig, period: Period, now: datetime, *, late: bool
) -> tuple[DigestPackage, TeamData]:
    async with store.snapshot() as tx:  # seconds of reading must not hold up the answers
        data = await load_team_data(tx, team, period)
    data = await with_theme_history(store, team, data, period, now)
    data = dataclasses.replace(data, opinions=await _opinions(store, team, data, now))
    package = await asyncio.to_thread(render_package, team, data, period, now, late=late)
    return package, data


def _quiet(digest: Digest, inputs: Sequence[CampaignInput | CampaignFacts]) -> bool:
    """Nothing happened and no campaign is open: a digest would only say so."""
    if any(d.campaign.status is CampaignStatus.OPEN for d in inputs):
        return False
    return not any(c.new_items or c.new_participants or c.completions for c in digest.campaigns)


# --- the last digest of each team ----------------------------------------------------------------


def _last_key(team: str) -> str:
    """One kv record per team: which period its last digest reported on (the schedule's catch-up
    starts there), whether it was quiet, where it was queued and which destinations this
    configuration could not reach (they have no outbox row). It holds no delivery state: what
    became of each destination — sent, retried with backoff, failed — is its outbox row's, read
    by its dedupe key (:func:`digest_status`)."""
    return f"digest-last:{team}"


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """What became of a digest at one destination."""

    destination: str
    status: str  # "sent", "pending" (queued or to be retried), "failed", "unreachable"
    attempts: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DigestStatus:
    """What became of a team's last digest."""

    key: str
    period_start: date
    late: bool
    quiet: bool  # nothing to report and no open campaign: nothing was sent
    deliveries: tuple[DeliveryState, ...]


async def digest_status(store: Database, team: str) -> DigestStatus | None:
    async with store.snapshot() as tx:
        record = await tx.kv.kv_get(_last_key(team))
        if not isinstance(record, dict):
            return None
        key = str(record["key"])
        queued = [str(d) for d in record.get("queued", [])]
        rows = await tx.outbox.outbox_states([destination_key(key, d) for d in queued])
    deliveries = []
    for destination in queued:
        row = rows.get(destination_key(key, destination))
        if row is None:
            deliveries.append(DeliveryState(destination, "pending"))
        else:
            status, attempts, error = row
            deliveries.append(DeliveryState(destination, status, attempts, error))
    deliveries += [
        DeliveryState(str(d), "unreachable", error=str(reason))
        for d, reason in dict(record.get("unreachable", {})).items()
    ]
    return DigestStatus(
        key=key,
        period_start=date.fromisoformat(str(record["period"])),
        late=bool(record.get("late")),
        quiet=bool(record.get("quiet")),
        deliveries=tuple(deliveries),
    )


async def last_sent_period(store: Database, team: str) -> date | None:
    """The start date of the last period whose digest was claimed for ``team``."""
    async with store.transaction() as tx:
        record = await tx.kv.kv_get(_last_key(team))
    if not isinstance(record, dict) or not isinstance(record.get("period"), str):
        return None
    return date.fromisoformat(record["period"])


# --- sending -------------------------------------------------------------------------------------


def email_messages(
    config: Config, package: DigestPackage, key: str, addresses: Sequence[str], now: datetime
) -> dict[str, OutboundMessage]:
    """Each address's e-mail, ready to send, as an outbox message (CPU only: run it outside
    any transaction). Its Message-ID depends on ``key`` and the address only."""
    digest = package.digest
    cids = {slug: chart_cid(slug, key) for slug in package.charts}
    theme_cids = {slug: chart_cid(f"themes-{slug}", key) for slug in package.theme_charts}
    html = render_html(digest, cids, theme_cids)
    title = subject(digest)
    messages = {}
    for address in addresses:
        email = build_email(
            sender=config.smtp.from_,
            recipient=address,
            subject=title,
            text=package.chat_text,
            html=html,
            charts={cids[slug]: png for slug, png in package.charts.items()}
            | {theme_cids[slug]: png for slug, png in package.theme_charts.items()},
            attachments=package.syntheses,
            key=key,
            now=now,
            language=digest.language,
        )
        messages[address] = OutboundMessage(
            text=title, attachments=(Attachment("digest.eml", RFC822, email.as_bytes()),)
        )
    return messages


def period_to_send(team: TeamConfig, now: datetime) -> Period:
    """The period a digest sent at ``now`` reports on: the week that ended last."""
    return completed_period(team, now + SCHEDULE_TOLERANCE)


async def send_digest(
    store: Database,
    config: Config,
    team: TeamConfig,
    now: datetime,
    *,
    late: bool,
    force: bool = False,
    period: Period | None = None,
) -> bool:
    """Send the digest of the period that ended at ``now``; True if this call sent it.

    Exactly once per team and period (see the module docstring); ``force`` sends again anyway
    (with keys of its own, so it never blocks or duplicates the scheduled one's outbox rows).
    """
    if period is None:
        period = period_to_send(team, now)
    key = period.key
    if not force:
        last = await last_sent_period(store, team.name)
        if last is not None and last >= period.start_date:
            return False  # cheap early exit; the claim below is what guarantees it
    package, data = await build_package(store, team, period, now, late=late)
    send_key = f"{key}:forced:{now.strftime('%Y%m%dT%H%M%S%f')}" if force else key
    targets = destinations(config, team)
    for target in targets:
        if target.unreachable is not None:
            log.error(
                "digest %s: %s cannot be reached: %s", send_key, target.raw, target.unreachable
            )
    reachable = [target for target in targets if target.unreachable is None]
    quiet = not force and _quiet(package.digest, data.inputs)
    mails = [t.address.chat_id for t in reachable if t.address.platform == MAILTO]
    emails = (
        {}
        if quiet
        else await asyncio.to_thread(email_messages, config, package, send_key, mails, now)
    )
    platforms = {t.address.platform for t in reachable if t.address.platform != MAILTO}
    chats = {platform: package.chat_message(platform) for platform in platforms}
    async with store.transaction() as tx:
        claimed = await tx.idempotency.claim_job(key, OWNER, now)
        if force:
            claimed = await tx.idempotency.claim_job(send_key, OWNER, now)
        if not claimed:
            log.info("digest %s: already claimed by another process", key)
            return False
        await tx.kv.kv_set(
            _last_key(team.name),
            {
                "period": period.start_date.isoformat(),
                "key": send_key,
                "late": late,
                "quiet": quiet,
                "queued": [] if quiet else [t.raw for t in reachable],
                "unreachable": {t.raw: t.unreachable for t in targets if t.unreachable is not None},
            },
            now,
        )
        if quiet:
            log.info("digest %s: nothing to report and no open campaign; not sent", key)
            return True
        for target in reachable:
            if target.address.platform == MAILTO:
                queued = emails[target.address.chat_id]
            else:
                queued = chats[target.address.platform]
            await tx.outbox.enqueue(
                target.address, queued, now, dedupe_key=destination_key(send_key, target.raw)
            )
    log.info(
        "digest %s%s: queued for %d destination(s)",
        send_key,
        " (late)" if late else "",
        len(reachable),
    )
    return True


async def catch_up(store: Database, config: Config, now: datetime) -> list[str]:
    """At start: send missed digests once, marked late (what a crash left unsent is the
    outbox's: it resumes by itself). Returns the keys of the late digests this call sent."""
    sent = []
    for team in config.teams:
        for period in due_periods(team, await last_sent_period(store, team.name), now):
            late = now - period.end > LATE_GRACE
            if await send_digest(store, config, team, now, late=late, period=period):
                sent.append(period.key)
    return sent


async def preview_digest(
    store: Database, config: Config, team: TeamConfig, now: datetime, *, current: bool = False
) -> str:
    """The digest as the terminal shows it: the last completed week, or the week so far."""
    return render_preview(await preview_model(store, config, team, now, current=current))


async def preview_model(
    store: Database, config: Config, team: TeamConfig, now: datetime, *, current: bool = False
) -> Digest:
    """The digest :func:`preview_digest` shows (its charts drawn with
    :func:`qn_bot.digest.chart.render_chart`)."""
    del config  # same signature as send_digest; the preview needs nothing from it
    period = current_period(team, now) if current else completed_period(team, now)
    async with store.snapshot() as tx:
        data = await load_team_data(tx, team, period, syntheses=False)
    data = await with_theme_history(store, team, data, period, now)
    opinions = await _opinions(store, team, data, now)
    return with_opinions(team_digest(team, data.inputs, period, now), opinions)


async def _opinions(
    store: Database, team: TeamConfig, data: TeamData, now: datetime
) -> dict[str, tuple[str, ...]]:
    """The opinion map's block of each campaign whose citizens vote (issue 15)."""
    async with store.snapshot() as tx:
        campaigns = [d.campaign for d in data.inputs if await tx.votes.has_votes(d.campaign.id)]
    if not campaigns:
        return {}
    from qn_bot.opinion_map import digest_blocks  # numpy, scikit-learn: only when citizens vote

    return await digest_blocks(
        store, campaigns, team.language, now, lambda c: team_minimum(team, c)
    )


def with_opinions(digest: Digest, opinions: dict[str, tuple[str, ...]]) -> Digest:
    if not opinions:
        return digest
    campaigns = tuple(
        dataclasses.replace(c, opinions=opinions.get(c.slug, ())) for c in digest.campaigns
    )
    return dataclasses.replace(digest, campaigns=campaigns)


async def digest_message(
    store: Database, config: Config, team: TeamConfig, now: datetime, *, current: bool = False
) -> OutboundMessage:
    """The digest as a chat message (text, chart, synthesis), sent to no one: for /digest."""
    del config
    period = current_period(team, now) if current else completed_period(team, now)
    package, _ = await build_package(store, team, period, now, late=False)
    return package.chat_message()
