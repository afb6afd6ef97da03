"""Reminders for citizens who started a flow and went quiet.

At most ``len(delays_hours)`` reminders per pause, each after its delay since the citizen's last
message, never during the quiet hours of the citizen's time zone, never after /stop. /relancer
reminds every mid-flow citizen of a campaign at once; for those in their quiet hours the
reminder is queued now and goes when they end (a deferred outbox row, qn_bot.store.outbox).

Exactly once: every reminder, the scheduler's or /relancer's, is counted on its session with a
compare-and-set and queued with a dedupe key naming the session, the pause and the reminder's
number, in one transaction; two processes, or /relancer and the scheduler's pass, never queue
the same reminder twice. And two reminders to one citizen are an hour apart at least
(``SPACING``), whoever asked for them: a reminder still waiting for the end of the quiet hours
counts from the time it will go. A reminder tells the outbox which session it is about, and is
not sent if that session is finished, its citizen said /stop or its campaign closed meanwhile.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from qn_bot.config import RemindersConfig
from qn_bot.domain import OutboundMessage
from qn_bot.i18n import Catalog, default_catalog
from qn_bot.records import IdleSession
from qn_bot.repositories import Database, Transaction

#: Idle sessions read, reminded and committed at a time.
PAGE = 500


def in_quiet_hours(now: datetime, timezone: str, start: time, end: time) -> bool:
    """True when ``now`` falls in [start, end) local time; the window may span midnight."""
    local = now.astimezone(ZoneInfo(timezone)).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(now: datetime, timezone: str, end: time) -> datetime:
    """The first instant after ``now`` when the local clock of ``timezone`` reads ``end``."""
    local = now.astimezone(ZoneInfo(timezone))
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(
            hour=end.hour, minute=end.minute, second=0, microsecond=0
        )
    return candidate


def reminder_due(last_input: datetime, sent: int, delays_hours: tuple[float, ...]) -> datetime:
    """When reminder number ``sent`` (0-based) falls due."""
    return last_input + timedelta(hours=delays_hours[sent])


#: The least time between two reminders to one citizen.
SPACING = timedelta(hours=1)


def recently_reminded(session: IdleSession, now: datetime) -> bool:
    """Reminded less than ``SPACING`` ago, or a reminder still waits to go."""
    return session.last_reminded is not None and session.last_reminded > now - SPACING


def reminder_key(session: IdleSession) -> str:
    """The dedupe key of the session's next reminder: its number since the citizen last wrote."""
    pause = "-" if session.last_input is None else f"{session.last_input:%Y%m%d%H%M%S%f}"
    return f"reminder:{session.session_id}:{pause}:{session.sent}"


async def queue_reminder(
    tx: Transaction,
    session: IdleSession,
    campaign_title: str,
    now: datetime,
    at: datetime,
    catalog: Catalog,
) -> bool:
    """Count and queue the session's next reminder, to go at ``at`` (deferred if later than
    ``now``); False when another process or command counted it first."""
    if not await tx.audiences.count_reminder(session.session_id, session.sent, at):
        return False
    participant = session.participant
    language = participant.language if participant.language else catalog.languages[0]
    row = await tx.outbox.enqueue(
        participant.reply_to,
        OutboundMessage(catalog.t(language, "reminder", title=campaign_title)),
        now,
        participant_id=participant.id,
        dedupe_key=reminder_key(session),
        not_before=at if at > now else None,
        mid_flow_session=session.session_id,
    )
    return row is not None


async def send_due_reminders(
    store: Database,
    config: RemindersConfig,
    now: datetime,
    catalog: Catalog | None = None,
    *,
    page: int = PAGE,
) -> int:
    """Queue every reminder that is due now; returns how many were queued.

    One page of idle sessions per transaction: memory stays flat whatever the number of
    citizens, and the writer lock is released between pages so that citizens' messages are
    not held up behind a long pass. Each page is read and written in one transaction, so a
    citizen who answers meanwhile is either reminded before their answer or not at all.
    """
    if not config.delays_hours:
        return 0
    catalog = catalog if catalog is not None else default_catalog()
    first = timedelta(hours=min(config.delays_hours))
    queued = 0
    titles: dict[int, str] = {}
    after = 0
    while True:
        async with store.transaction() as tx:
            candidates = await tx.audiences.reminder_candidates(
                now, first, len(config.delays_hours), after_session_id=after, limit=page
            )
            for session in candidates:
                last_input = session.last_input
                if last_input is None:
                    continue  # never idle by the candidates' own rule; typed Optional
                if reminder_due(last_input, session.sent, config.delays_hours) > now:
                    continue
                if recently_reminded(session, now):
                    continue  # picked up again once the last reminder is an hour old
                if in_quiet_hours(
                    now, _zone(session, config), config.quiet_start, config.quiet_end
                ):
                    continue  # picked up again by the first check after the quiet hours
                if session.campaign_id not in titles:
                    campaign = await tx.campaigns.campaign_by_id(session.campaign_id)
                    titles[session.campaign_id] = campaign.title if campaign else ""
                queued += await queue_reminder(
                    tx, session, titles[session.campaign_id], now, now, catalog
                )
        if len(candidates) < page:
            return queued
        after = candidates[-1].session_id


def _zone(session: IdleSession, config: RemindersConfig) -> str:
    timezone = session.participant.timezone
    return timezone if timezone is not None else config.timezone


@dataclass(frozen=True, slots=True)
class Relance:
    """What /relancer did, for the facilitator's answer."""

    queued: int = 0  # going now
    deferred: tuple[tuple[datetime, int], ...] = ()  # (when, how many): held for quiet hours
    already: int = 0  # reminded less than SPACING ago, or a reminder still waits: not twice
    stopped: int = 0  # said /stop: never reminded


async def remind_campaign_now(
    tx: Transaction, campaign_id: int, title: str, config: RemindersConfig, now: datetime
) -> Relance:
    """/relancer: one reminder to each mid-flow citizen of the campaign, now, or when their
    quiet hours end; none to those who said /stop."""
    catalog = default_catalog()
    queued = already = 0
    deferred: Counter[datetime] = Counter()
    after = 0
    while True:
        # Pages: 100,000 citizens mid-flow are never all in memory at once. One transaction
        # still (the facilitator's command is answered once every reminder is queued).
        page = await tx.audiences.unfinished_sessions(
            campaign_id, after_session_id=after, limit=PAGE
        )
        for session in page:
            if recently_reminded(session, now):
                already += 1
                continue
            zone = _zone(session, config)
            quiet = in_quiet_hours(now, zone, config.quiet_start, config.quiet_end)
            at = quiet_hours_end(now, zone, config.quiet_end) if quiet else now
            if not await queue_reminder(tx, session, title, now, at, catalog):
                already += 1
            elif at > now:
                deferred[at] += 1
            else:
                queued += 1
        if len(page) < PAGE:
            break
        after = page[-1].session_id
    stopped = await tx.audiences.stopped_mid_flow(campaign_id)
    return Relance(queued, tuple(sorted(deferred.items())), already, stopped)
