"""Audiences: whom reminders and campaign-wide messages go to, read a page at a time and
queued in one statement per language."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, String, cast, func, literal, or_, select, update

from qn_bot.domain import CampaignStatus, OutboundMessage
from qn_bot.records import IdleSession
from qn_bot.repositories import Audience
from qn_bot.store import schema as t
from qn_bot.store.repository import Repository
from qn_bot.store.rows import participant_record


def still_mid_flow(session_ids: Collection[int]) -> Select[tuple[int]]:
    """The ids among ``session_ids`` of the sessions a reminder is still worth sending about:
    unfinished, in an open campaign, of a citizen who has not said /stop (the outbox checks a
    reminder against it when handing it out)."""
    s, p, c = t.sessions.c, t.participants.c, t.campaigns.c
    return (
        select(s.id)
        .join(t.participants, p.id == s.participant_id)
        .join(t.campaigns, c.id == s.campaign_id)
        .where(
            s.id.in_(list(session_ids)),
            s.status == "active",
            p.stopped.is_(False),
            c.status == CampaignStatus.OPEN.value,
        )
    )


def _idle_session(row: Row[Any]) -> IdleSession:
    return IdleSession(
        participant=participant_record(row),
        session_id=row.session_id,
        campaign_id=row.campaign_id,
        sent=row.reminders_sent,
        last_input=row.last_input_at,
        last_reminded=row.last_reminded_at,
    )


def _idle_columns() -> list[Any]:
    s = t.sessions.c
    return [
        t.participants,
        s.id.label("session_id"),
        s.campaign_id,
        s.reminders_sent,
        s.last_input_at,
        s.last_reminded_at,
    ]


class SqlAudiences(Repository):
    """Who is reminded and who receives a campaign-wide message."""

    __slots__ = ()

    async def reminder_candidates(
        self,
        now: datetime,
        first_delay: timedelta,
        max_reminders: int,
        *,
        after_session_id: int = 0,
        limit: int | None = None,
    ) -> list[IdleSession]:
        """Sessions idle for ``first_delay`` at least and reminded fewer than ``max_reminders``
        times, by session id: ``after_session_id`` and ``limit`` read them one page at a time."""
        s = t.sessions.c
        stmt = (
            select(*_idle_columns())
            .join(t.sessions, s.participant_id == t.participants.c.id)
            .join(t.campaigns, t.campaigns.c.id == s.campaign_id)
            .where(
                s.status == "active",
                s.reminders_sent < max_reminders,
                s.last_input_at <= now - first_delay,
                t.campaigns.c.status == CampaignStatus.OPEN.value,
                t.participants.c.stopped.is_(False),
                t.participants.c.unreachable.is_(False),
                # A citizen who moved to another campaign is not reminded of this one.
                t.participants.c.active_campaign_id == s.campaign_id,
                s.id > after_session_id,
            )
            .order_by(s.id)
            .limit(limit)
        )
        return [_idle_session(r) for r in (await self.conn.execute(stmt)).all()]

    async def unfinished_sessions(
        self, campaign_id: int, *, after_session_id: int = 0, limit: int | None = None
    ) -> list[IdleSession]:
        """The campaign's unfinished sessions whose citizen still accepts messages, by session
        id: ``after_session_id`` and ``limit`` read them one page at a time."""
        s, p = t.sessions.c, t.participants.c
        stmt = (
            select(*_idle_columns())
            .join(t.sessions, s.participant_id == p.id)
            .where(
                s.campaign_id == campaign_id,
                s.status == "active",
                p.stopped.is_(False),
                p.unreachable.is_(False),
                s.id > after_session_id,
            )
            .order_by(s.id)
            .limit(limit)
        )
        return [_idle_session(r) for r in (await self.conn.execute(stmt)).all()]

    async def stopped_mid_flow(self, campaign_id: int) -> int:
        """How many citizens said /stop with a session of this campaign unfinished."""
        s, p = t.sessions.c, t.participants.c
        stmt = (
            select(func.count())
            .select_from(t.sessions)
            .join(t.participants, s.participant_id == p.id)
            .where(s.campaign_id == campaign_id, s.status == "active", p.stopped.is_(True))
        )
        return int((await self.conn.execute(stmt)).scalar_one())

    async def count_reminder(self, session_id: int, sent_before: int, at: datetime) -> bool:
        """Count one more reminder, going at ``at``, only if nobody counted it meanwhile."""
        result = await self.conn.execute(
            update(t.sessions)
            .where(t.sessions.c.id == session_id, t.sessions.c.reminders_sent == sent_before)
            .values(reminders_sent=sent_before + 1, last_reminded_at=at)
        )
        return bool(result.rowcount == 1)

    async def enqueue_to_audience(
        self,
        audience: Audience,
        campaign_id: int,
        messages: Mapping[str, OutboundMessage],
        now: datetime,
        *,
        dedupe_prefix: str,
        dedupe_suffix: str = "",
    ) -> int:
        """Queue a message to each reachable citizen of ``audience`` (who did not /stop), in
        their language (the first of ``messages`` for citizens without one):

        - ``"invitees"``: citizens who consented in an earlier campaign and have not joined
          this one;
        - ``"mid_flow"``: citizens with an unfinished session in this campaign.

        Keyed ``<dedupe_prefix><participant id><dedupe_suffix>``: a second run queues only who
        was missed. Returns how many were queued. One INSERT … SELECT per language: 10,000 rows
        queued one by one held SQLite's writer for 5–12 s, answers waiting behind it."""
        p, s, o = t.participants, t.sessions, t.outbox
        if audience == "invitees":
            consented = select(s.c.participant_id).where(
                s.c.consent_version.is_not(None), s.c.campaign_id != campaign_id
            )
            joined = select(s.c.participant_id).where(s.c.campaign_id == campaign_id)
            members = [p.c.id.in_(consented), p.c.id.not_in(joined)]
        else:
            unfinished = select(s.c.participant_id).where(
                s.c.campaign_id == campaign_id, s.c.status == "active"
            )
            members = [p.c.id.in_(unfinished)]
        audience_where = [*members, p.c.stopped.is_(False), p.c.unreachable.is_(False)]
        languages = list(messages)
        queued = 0
        for n, (language, message) in enumerate(messages.items()):
            speaks = p.c.language == language
            if n == 0:
                speaks = or_(speaks, p.c.language.is_(None), p.c.language.not_in(languages))
            rows = select(
                p.c.platform,
                p.c.reply_chat_id,
                p.c.id,
                literal(message.to_json(), o.c.payload.type),
                literal("pending"),
                literal(0),
                literal(now, o.c.next_attempt_at.type),
                literal(now, o.c.created_at.type),
                literal(dedupe_prefix) + cast(p.c.id, String) + literal(dedupe_suffix),
            ).where(*audience_where, speaks)
            columns = [
                "platform",
                "chat_id",
                "participant_id",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
                "dedupe_key",
            ]
            stmt = self._insert(o).from_select(columns, rows).on_conflict_do_nothing()
            queued += (await self.conn.execute(stmt)).rowcount
        return queued
