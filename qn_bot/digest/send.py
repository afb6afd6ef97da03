"""Sending digests: exactly once per team and period, to chats through the outbox and by e-mail.

How "exactly once" holds, also with several bot processes on one database:

1. The digest is read and rendered first, outside any write transaction (rendering a chart takes
   a moment and SQLite would hold its write lock meanwhile).
2. One transaction then claims the job ``digest:<team>:<period-start>`` (``INSERT … ON CONFLICT DO
   NOTHING``: only one process ever gets it) and, in the same commit, queues one outbox row per chat
   destination (dedupe key ``digest:<team>:<period>:<destination>``) and records, per e-mail
   address, that attempt 1 is in progress (a job row ``…:mailto:ADDR#1`` and a kv row). Whoever
   loses the claim does nothing. Chat rows are then the outbox worker's job: committed rows are
   never lost and are sent in order, at least once (see :mod:`qn_bot.outbox`).
3. E-mails are sent after that commit, one per address, and marked sent in kv.

SMTP has no idempotency key, so e-mail is where a crash matters. A process that dies after the
commit of step 2 but before an e-mail is marked sent leaves its kv row at "sending" (or "failed"
when the server refused it). :func:`retry_pending_emails` — run at start by :func:`catch_up` —
retries such an address once: it claims the job ``…:mailto:ADDR#2`` (so two restarting processes
cannot both retry) and only for rows older than :data:`MAIL_RETRY_AFTER` (so it never races a
process that is still sending attempt 1). The result: an address gets its digest once normally;
twice at worst, when the crash fell between the server's acceptance and our "sent" mark, and then
both copies carry the same Message-ID, which mail clients and lists recognise as one message;
never more than twice, and never zero times unless both attempts fail.

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
from typing import Any

from qn_bot.campaigns import campaign_flow
from qn_bot.config import Config, TeamConfig
from qn_bot.digest.attachment import SynthesisSource, load_synthesis_source, synthesis_attachment
from qn_bot.digest.email import EmailError, build_email, chart_cid, send_email
from qn_bot.digest.model import DEFAULT_CAP, CampaignFacts, CampaignInput, Digest, build_digest
from qn_bot.digest.period import (
    Period,
    completed_period,
    current_period,
    due_periods,
    period_for_start,
    recent_periods,
)
from qn_bot.digest.queries import StepCounts, period_facts
from qn_bot.digest.render import render_chat_text, render_html, render_preview, subject
from qn_bot.disclosure import strictest
from qn_bot.domain import Address, Attachment, CampaignStatus, OutboundMessage
from qn_bot.errors import CampaignError
from qn_bot.flows.format import Flow
from qn_bot.participants import Participation, campaign_participants, count_participants
from qn_bot.store.records import CampaignRecord
from qn_bot.store.sql import Store, Tx

log = logging.getLogger(__name__)

#: Who claimed a job, for people reading the job_runs table.
OWNER = f"{socket.gethostname()}:{os.getpid()}"
CHART_WEEKS = 8
#: A send a scheduler fires a little early still reports on the week that is ending.
SCHEDULE_TOLERANCE = timedelta(minutes=2)
#: An e-mail attempt still "sending" after this long is taken as dead (crashed process).
MAIL_RETRY_AFTER = timedelta(minutes=10)
MAX_MAIL_ATTEMPTS = 2
#: A missed digest sent this soon after its time (a restart at 09:00:30) is not called late.
LATE_GRACE = timedelta(minutes=15)


# --- destinations --------------------------------------------------------------------------------


def chat_destinations(team: TeamConfig) -> list[tuple[str, Address]]:
    """``(destination, address)`` of every chat destination ("matrix:ROOM", "telegram:CHAT")."""
    out = []
    for raw in team.destinations:
        if raw.startswith("mailto:"):
            continue
        try:
            out.append((raw, Address.parse(raw)))
        except ValueError:
            # One mistyped destination must not cost the team its other ones.
            log.error(
                "team %s: destination %r is not PLATFORM:CHAT or mailto:ADDRESS", team.name, raw
            )
    return out


def email_destinations(team: TeamConfig) -> list[str]:
    return [raw.removeprefix("mailto:") for raw in team.destinations if raw.startswith("mailto:")]


def find_team(config: Config, name: str) -> TeamConfig:
    for team in config.teams:
        if team.name == name:
            return team
    known = ", ".join(t.name for t in config.teams) or "none configured"
    raise CampaignError(f"no team named {name!r} in the configuration (teams: {known})")


# --- reading -------------------------------------------------------------------------------------


async def load_inputs(tx: Tx, team: TeamConfig) -> list[CampaignInput]:
    """Every item of the team's campaigns, as records: for small campaigns and callers that do
    not know the period yet. :func:`load_team_data` with a period counts in SQL instead."""
    inputs = []
    for campaign, flow in await _campaigns(tx, team):
        inputs.append(
            CampaignInput(
                campaign=campaign,
                flow=flow,
                items=await tx.campaign_items(campaign.id),
                sessions=await campaign_participants(tx, campaign, flow),
            )
        )
    return inputs


def team_minimum(team: TeamConfig, campaign: CampaignRecord) -> int:
    """The anonymity threshold of ``campaign`` in ``team``'s digest: the stricter of the two."""
    return strictest(team.min_respondents, campaign.min_respondents)


async def _campaigns(tx: Tx, team: TeamConfig) -> list[tuple[CampaignRecord, Flow]]:
    found = []
    for slug in team.campaigns:
        campaign = await tx.campaign_by_slug(slug)
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
    chat_text: str
    charts: dict[str, bytes]  # campaign slug → PNG
    syntheses: tuple[Attachment, ...]

    def chart_attachments(self) -> tuple[Attachment, ...]:
        return tuple(
            Attachment(f"digest-{slug}.png", "image/png", png) for slug, png in self.charts.items()
        )

    def chat_message(self) -> OutboundMessage:
        return OutboundMessage(
            text=self.chat_text, attachments=self.chart_attachments() + self.syntheses
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


async def load_team_data(
    tx: Tx, team: TeamConfig, period: Period | None = None, *, syntheses: bool = True
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
    digest = team_digest(team, data.inputs, period, now, late=late)
    capped = any(source.capped for source in data.syntheses)
    if capped:
        digest = dataclasses.replace(digest, capped_syntheses=True)
    syntheses = tuple(synthesis_attachment(s, team.language, now) for s in data.syntheses)
    from qn_bot.digest.chart import render_chart  # matplotlib: ~40 MB, only when drawing

    charts = {c.slug: render_chart(c, team.language, team.timezone) for c in digest.campaigns}
    return DigestPackage(digest, render_chat_text(digest), charts, syntheses)


async def build_package(
    store: Store, team: TeamConfig, period: Period, now: datetime, *, late: bool
) -> tuple[DigestPackage, TeamData]:
    async with store.snapshot() as tx:  # seconds of reading must not hold up the answers
        data = await load_team_data(tx, team, period)
    package = await asyncio.to_thread(render_package, team, data, period, now, late=late)
    return package, data


def _quiet(digest: Digest, inputs: Sequence[CampaignInput | CampaignFacts]) -> bool:
    """Nothing happened and no campaign is open: a digest would only say so."""
    if any(d.campaign.status is CampaignStatus.OPEN for d in inputs):
        return False
    return not any(c.new_items or c.new_participants or c.completions for c in digest.campaigns)


# --- kv bookkeeping ------------------------------------------------------------------------------


def _last_key(team: str) -> str:
    return f"digest-last:{team}"


def _mail_key(key: str, address: str) -> str:
    # Keys are at most 255 characters; an address can be 254 on its own.
    if len(address) > 120:
        address = "sha256-" + hashlib.sha256(address.encode()).hexdigest()
    return f"{key}:mailto:{address}"


@dataclass(frozen=True, slots=True)
class DigestStatus:
    """What became of a team's last digest."""

    key: str
    period_start: date
    late: bool
    quiet: bool  # nothing to report and no open campaign: nothing was sent
    emails: dict[str, str]  # address → "sending", "sent" or "failed"


async def digest_status(store: Store, team: str) -> DigestStatus | None:
    async with store.transaction() as tx:
        record = await tx.kv_get(_last_key(team))
        if not isinstance(record, dict):
            return None
        key = str(record["key"])
        emails = {}
        for address in record.get("mail", []):
            state = await tx.kv_get(_mail_key(key, address))
            emails[address] = str(state.get("status")) if isinstance(state, dict) else "unknown"
    return DigestStatus(
        key=key,
        period_start=date.fromisoformat(str(record["period"])),
        late=bool(record.get("late")),
        quiet=bool(record.get("quiet")),
        emails=emails,
    )


async def last_sent_period(store: Store, team: str) -> date | None:
    """The start date of the last period whose digest was claimed for ``team``."""
    async with store.transaction() as tx:
        record = await tx.kv_get(_last_key(team))
    if not isinstance(record, dict) or not isinstance(record.get("period"), str):
        return None
    return date.fromisoformat(record["period"])


def _sending(attempt: int, now: datetime) -> dict[str, Any]:
    return {"status": "sending", "attempt": attempt, "at": now.isoformat()}


# --- sending -------------------------------------------------------------------------------------


async def _send_emails(
    store: Store,
    config: Config,
    package: DigestPackage,
    key: str,
    addresses: Sequence[str],
    now: datetime,
    attempts: dict[str, int],
) -> int:
    """Send the e-mail to each address and record the outcome; returns how many were sent."""
    if not addresses:
        return 0
    digest = package.digest
    cids = {slug: chart_cid(slug, key) for slug in package.charts}
    html = render_html(digest, cids)
    sent = 0
    for address in addresses:
        message = build_email(
            sender=config.smtp.from_,
            recipient=address,
            subject=subject(digest),
            text=package.chat_text,
            html=html,
            charts={cids[slug]: png for slug, png in package.charts.items()},
            attachments=package.syntheses,
            key=key,
            now=now,
            language=digest.language,
        )
        try:
            await send_email(config.smtp, message)
        except EmailError as exc:
            log.error("digest %s: e-mail to %s failed: %s", key, address, exc)
            state = {"status": "failed", "attempt": attempts[address], "at": now.isoformat()}
            state["error"] = str(exc)[:300]
        else:
            sent += 1
            state = {"status": "sent", "attempt": attempts[address], "at": now.isoformat()}
        async with store.transaction() as tx:
            await tx.kv_set(_mail_key(key, address), state, now)
    return sent


def period_to_send(team: TeamConfig, now: datetime) -> Period:
    """The period a digest sent at ``now`` reports on: the week that ended last."""
    return completed_period(team, now + SCHEDULE_TOLERANCE)


async def send_digest(
    store: Store,
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
    chats = chat_destinations(team)
    mails = email_destinations(team)
    quiet = not force and _quiet(package.digest, data.inputs)
    async with store.transaction() as tx:
        claimed = await tx.claim_job(key, OWNER, now)
        if force:
            claimed = await tx.claim_job(send_key, OWNER, now)
        if not claimed:
            log.info("digest %s: already claimed by another process", key)
            return False
        await tx.kv_set(
            _last_key(team.name),
            {
                "period": period.start_date.isoformat(),
                "key": send_key,
                "late": late,
                "quiet": quiet,
                "mail": [] if quiet else mails,
            },
            now,
        )
        if quiet:
            log.info("digest %s: nothing to report and no open campaign; not sent", key)
            return True
        message = package.chat_message()
        for destination, chat in chats:
            await tx.enqueue(chat, message, now, dedupe_key=f"{send_key}:{destination}")
        for email in mails:
            await tx.claim_job(f"{_mail_key(send_key, email)}#1", OWNER, now)
            await tx.kv_set(_mail_key(send_key, email), _sending(1, now), now)
    log.info(
        "digest %s%s: %d chat message(s) queued, %d e-mail(s) to send",
        send_key,
        " (late)" if late else "",
        len(chats),
        len(mails),
    )
    await _send_emails(store, config, package, send_key, mails, now, dict.fromkeys(mails, 1))
    return True


async def retry_pending_emails(store: Store, config: Config, now: datetime) -> int:
    """Retry, once, the e-mails of each team's last digest that a crash left unsent."""
    retried = 0
    for team in config.teams:
        async with store.transaction() as tx:
            record = await tx.kv_get(_last_key(team.name))
        if not isinstance(record, dict) or not record.get("mail"):
            continue
        key = str(record["key"])
        due: dict[str, int] = {}
        async with store.transaction() as tx:
            for address in record["mail"]:
                state = await tx.kv_get(_mail_key(key, address))
                if not isinstance(state, dict) or state.get("status") == "sent":
                    continue
                attempt = int(state.get("attempt", 1)) + 1
                at = datetime.fromisoformat(str(state.get("at")))
                if attempt > MAX_MAIL_ATTEMPTS:
                    continue
                if state.get("status") == "sending" and now - at < MAIL_RETRY_AFTER:
                    continue  # maybe still being sent by a live process
                if await tx.claim_job(f"{_mail_key(key, address)}#{attempt}", OWNER, now):
                    await tx.kv_set(_mail_key(key, address), _sending(attempt, now), now)
                    due[address] = attempt
        if not due:
            continue
        period = period_for_start(team, date.fromisoformat(str(record["period"])))
        package, _ = await build_package(store, team, period, now, late=bool(record["late"]))
        log.warning("digest %s: retrying %d e-mail(s) left unsent", key, len(due))
        retried += await _send_emails(store, config, package, key, list(due), now, due)
    return retried


async def catch_up(store: Store, config: Config, now: datetime) -> list[str]:
    """At start: finish e-mails a crash left unsent, then send missed digests once, marked late.

    Returns the keys of the late digests this call sent.
    """
    await retry_pending_emails(store, config, now)
    sent = []
    for team in config.teams:
        for period in due_periods(team, await last_sent_period(store, team.name), now):
            late = now - period.end > LATE_GRACE
            if await send_digest(store, config, team, now, late=late, period=period):
                sent.append(period.key)
    return sent


async def preview_digest(
    store: Store, config: Config, team: TeamConfig, now: datetime, *, current: bool = False
) -> str:
    """The digest as the terminal shows it: the last completed week, or the week so far."""
    del config  # same signature as send_digest; the preview needs nothing from it
    period = current_period(team, now) if current else completed_period(team, now)
    async with store.snapshot() as tx:
        data = await load_team_data(tx, team, period, syntheses=False)
    return render_preview(team_digest(team, data.inputs, period, now))


async def digest_message(
    store: Store, config: Config, team: TeamConfig, now: datetime, *, current: bool = False
) -> OutboundMessage:
    """The digest as a chat message (text, chart, synthesis), sent to no one: for /digest."""
    del config
    period = current_period(team, now) if current else completed_period(team, now)
    package, _ = await build_package(store, team, period, now, late=False)
    return package.chat_message()
