"""Reminders for citizens who started a flow and went quiet.

At most ``len(delays_hours)`` reminders per pause, each after its delay since the citizen's last
message, never during the quiet hours of the citizen's time zone, never after /stop. Every
reminder is counted with a compare-and-set and queued with a dedupe key in one transaction, so
two scheduler processes never send the same reminder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from qn_bot.config import RemindersConfig
from qn_bot.domain import OutboundMessage
from qn_bot.i18n import Catalog, default_catalog
from qn_bot.records import ParticipantRecord
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


async def queue_reminder(
    tx: Transaction,
    participant: ParticipantRecord,
    campaign_title: str,
    now: datetime,
    dedupe_key: str,
    catalog: Catalog,
) -> bool:
    language = participant.language if participant.language else catalog.languages[0]
    row = await tx.outbox.enqueue(
        participant.reply_to,
        OutboundMessage(catalog.t(language, "reminder", title=campaign_title)),
        now,
        participant_id=participant.id,
        dedupe_key=dedupe_key,
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
            for participant, session_id, campaign_id, sent, last_input in candidates:
                if reminder_due(last_input, sent, config.delays_hours) > now:
                    continue
                zone = participant.timezone if participant.timezone else config.timezone
                if in_quiet_hours(now, zone, config.quiet_start, config.quiet_end):
                    continue  # picked up again by the first check after the quiet hours
                if not await tx.audiences.count_reminder(session_id, sent):
                    continue
                if campaign_id not in titles:
                    campaign = await tx.campaigns.campaign_by_id(campaign_id)
                    titles[campaign_id] = campaign.title if campaign else ""
                key = f"reminder:{session_id}:{last_input:%Y%m%d%H%M%S%f}:{sent}"
                queued += await queue_reminder(
                    tx, participant, titles[campaign_id], now, key, catalog
                )
        if len(candidates) < page:
            return queued
        after = candidates[-1][1]


@dataclass(frozen=True, slots=True)
class Relance:
    """What /relancer did, for the facilitator's answer. Citizens who said /stop are not among
    the mid-flow citizens it reads, so they are not counted here."""

    queued: int = 0
    already: int = 0  # reminded by a /relancer earlier in the same hour: not twice
    quiet: int = 0  # in their quiet hours: not reminded now
    quiet_until: datetime | None = None  # when the last of them leaves their quiet hours


async def remind_campaign_now(
    tx: Transaction, campaign_id: int, title: str, config: RemindersConfig, now: datetime
) -> Relance:
    """/relancer: one reminder now to each mid-flow citizen, quiet hours and /stop respected."""
    catalog = default_catalog()
    queued = already = quiet = 0
    quiet_until: datetime | None = None
    after = 0
    while True:
        # Pages: 100,000 citizens mid-flow are never all in memory at once. One transaction
        # still (the facilitator's command is answered once every reminder is queued).
        page = await tx.audiences.mid_flow(campaign_id, after_participant_id=after, limit=PAGE)
        for participant in page:
            zone = participant.timezone if participant.timezone else config.timezone
            if in_quiet_hours(now, zone, config.quiet_start, config.quiet_end):
                quiet += 1
                ends = quiet_hours_end(now, zone, config.quiet_end)
                quiet_until = ends if quiet_until is None else max(quiet_until, ends)
                continue
            key = f"relance:{campaign_id}:{participant.id}:{now:%Y%m%d%H}"
            if await queue_reminder(tx, participant, title, now, key, catalog):
                queued += 1
            else:
                already += 1
        if len(page) < PAGE:
            return Relance(queued, already, quiet, quiet_until)
        after = page[-1].id
