"""Digest periods: one week per team, ending at its weekday and time in its IANA time zone.

A digest sent on Monday at 09:00 Europe/Paris covers the week that ends then: from the previous
Monday 09:00 (local) up to this one. Boundaries are computed in local wall-clock time and only
then turned into instants, so the digest goes out at 09:00 local time all year round: the week
that holds a DST change lasts 167 or 169 hours, and that is what people expect.

Times that do not exist (the spring-forward gap) or exist twice (the autumn fold) are resolved
the way :mod:`zoneinfo` does with ``fold=0``: a 02:30 that never happens is the instant 02:30 would
be with the offset before the change (03:30 of the new offset), a repeated 02:30 is the first one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from qn_bot.config import TeamConfig

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC; ``start_date`` is the local date the period starts on."""

    team: str
    start: datetime
    end: datetime
    start_date: date
    end_date: date

    @property
    def key(self) -> str:
        """The exactly-once job key: ``digest:<team>:<period-start-date>``."""
        return f"digest:{self.team}:{self.start_date.isoformat()}"

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def previous(self, team: TeamConfig) -> Period:
        return period_ending_on(team, self.start_date)

    def next(self, team: TeamConfig) -> Period:
        return period_ending_on(team, self.end_date + timedelta(days=7))


def _zone(team: TeamConfig) -> ZoneInfo:
    return ZoneInfo(team.timezone)


def local_occurrence(team: TeamConfig, day: date) -> datetime:
    """The instant (UTC) of the team's send time on local date ``day``."""
    local = datetime.combine(day, team.time, tzinfo=_zone(team))
    return local.astimezone(UTC)


def period_ending_on(team: TeamConfig, end_date: date) -> Period:
    """The period whose end is the send time on local date ``end_date`` (a team weekday)."""
    start_date = end_date - timedelta(days=7)
    return Period(
        team=team.name,
        start=local_occurrence(team, start_date),
        end=local_occurrence(team, end_date),
        start_date=start_date,
        end_date=end_date,
    )


def last_send_date(team: TeamConfig, now: datetime) -> date:
    """The local date of the latest scheduled send at or before ``now``."""
    if now.tzinfo is None:
        raise ValueError("naive datetime")
    target = WEEKDAYS.index(team.weekday)
    local_today = now.astimezone(_zone(team)).date()
    day = local_today - timedelta(days=(local_today.weekday() - target) % 7)
    if local_occurrence(team, day) > now:
        day -= timedelta(days=7)
    return day


def completed_period(team: TeamConfig, now: datetime) -> Period:
    """The latest period that has ended at ``now``: what a digest sent now reports on."""
    return period_ending_on(team, last_send_date(team, now))


def current_period(team: TeamConfig, now: datetime) -> Period:
    """The period in progress at ``now`` (its end is the next scheduled send)."""
    return completed_period(team, now).next(team)


def next_send_at(team: TeamConfig, now: datetime) -> datetime:
    """The next scheduled send strictly after ``now`` (UTC)."""
    return current_period(team, now).end


def period_for_start(team: TeamConfig, start_date: date) -> Period:
    return period_ending_on(team, start_date + timedelta(days=7))


def due_periods(team: TeamConfig, last_sent: date | None, now: datetime) -> list[Period]:
    """Digests to send now because they were missed while the bot was down: at most one.

    ``last_sent`` is the start date of the last period sent for this team (see
    :func:`qn_bot.digest.send.last_sent_period`), ``None`` when it never sent one: a new team has
    missed nothing, its first digest goes out at the next scheduled time. When several weeks were
    missed only the latest is due (once, marked late); older weeks are folded into nothing rather
    than flooding a room with stale digests.
    """
    if last_sent is None:
        return []
    latest = completed_period(team, now)
    if latest.start_date <= last_sent:
        return []
    return [latest]


def recent_periods(team: TeamConfig, period: Period, count: int) -> list[Period]:
    """``count`` consecutive periods ending with ``period``, oldest first (for charts)."""
    periods = [period]
    for _ in range(count - 1):
        periods.append(periods[-1].previous(team))
    return periods[::-1]
