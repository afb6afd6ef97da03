"""Sessions and items: where each citizen stands in a campaign, their answers and every
revision of them, and the batched read of many conversations at once (group commit)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update

from qn_bot.domain import Address, UserRef
from qn_bot.records import Conversation, ItemRecord, RevisionRecord, SessionRecord
from qn_bot.store import schema as t
from qn_bot.store.moderation import not_public_ids, public_items
from qn_bot.store.repository import Repository
from qn_bot.store.rows import (
    CAMPAIGN_STATUS,
    by_platform,
    free_texts,
    item_records,
    item_row,
    item_select,
)


class SqlSessions(Repository):
    """Sessions, answer items and their revisions."""

    __slots__ = ()

    async def session(self, participant_id: int, campaign_id: int) -> SessionRecord | None:
        row = (
            await self.conn.execute(
                select(t.sessions).where(
                    t.sessions.c.participant_id == participant_id,
                    t.sessions.c.campaign_id == campaign_id,
                )
            )
        ).first()
        if row is None:
            return None
        m = row._mapping
        return SessionRecord(
            id=m["id"],
            participant_id=m["participant_id"],
            campaign_id=m["campaign_id"],
            state=dict(m["state"]),
            status=m["status"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )

    async def conversations(self, users: Sequence[UserRef]) -> dict[UserRef, Conversation]:
        """Where many citizens stand, in one statement per platform: what group commit's
        batched path needs.

        Rows are locked as :meth:`SqlParticipants.participant` with ``for_update`` does
        (platform by platform, in id order, so two processes locking overlapping batches queue
        instead of deadlocking). Only the columns needed are read: decoding the others cost as
        much as the rest of the path."""
        p, s, c = t.participants, t.sessions, t.campaigns
        active = and_(s.c.participant_id == p.c.id, s.c.campaign_id == p.c.active_campaign_id)
        found: dict[UserRef, Conversation] = {}
        for platform, ids in by_platform((u.platform, u.user_id) for u in users):
            stmt = (
                select(
                    p.c.id,
                    p.c.platform_user_id,
                    p.c.reply_chat_id,
                    p.c.pending_action,
                    p.c.unreachable,
                    p.c.pending_since,
                    p.c.stopped,
                    p.c.language,
                    p.c.active_campaign_id,
                    s.c.id,
                    s.c.campaign_id,
                    s.c.state,
                    c.c.status,
                    c.c.flow_version,
                )
                .select_from(p.outerjoin(s, active).outerjoin(c, c.c.id == s.c.campaign_id))
                .where(p.c.platform == platform, p.c.platform_user_id.in_(ids))
                .order_by(p.c.id)
            )
            if self.dialect == "postgresql":
                stmt = stmt.with_for_update(of=p)
            rows = (await self.conn.execute(stmt)).all()
            for (
                pid,
                user_id,
                chat,
                pending,
                unreachable,
                since,
                stopped,
                language,
                active_id,
                sid,
                cid,
                state,
                status,
                version,
            ) in rows:
                found[UserRef(platform, user_id)] = Conversation(
                    participant_id=pid,
                    reply_to=Address(platform, chat),
                    pending_action=pending,
                    unreachable=bool(unreachable),
                    pending_since=since,
                    stopped=bool(stopped),
                    language=language,
                    active_campaign_id=active_id,
                    session_id=sid,
                    campaign_id=cid,
                    state=state,
                    campaign_status=None if status is None else CAMPAIGN_STATUS[status],
                    flow_version=version,
                )
        return found

    async def save_session(
        self,
        participant_id: int,
        campaign_id: int,
        state: dict[str, Any],
        now: datetime,
        *,
        status: str,
        step_id: str | None,
        session_id: int | None = None,
    ) -> int:
        """Insert or update the session; a caller that knows its id saves a look-up."""
        existing_id = session_id
        if existing_id is None:
            existing = await self.session(participant_id, campaign_id)
            existing_id = existing.id if existing is not None else None
        # Every save follows something the citizen sent: the reminder clock starts again.
        values = {
            "state": state,
            "status": status,
            "step_id": step_id,
            "updated_at": now,
            "last_input_at": now,
            "reminders_sent": 0,
        }
        if status == "completed":
            values["completed_at"] = now
        if existing_id is None:
            result = await self.conn.execute(
                insert(t.sessions)
                .values(
                    participant_id=participant_id, campaign_id=campaign_id, created_at=now, **values
                )
                .returning(t.sessions.c.id)
            )
            return int(result.scalar_one())
        await self.conn.execute(
            update(t.sessions).where(t.sessions.c.id == existing_id).values(**values)
        )
        return existing_id

    async def record_consent(
        self, session_id: int, flow_version: int | None, now: datetime
    ) -> None:
        await self.conn.execute(
            update(t.sessions)
            .where(t.sessions.c.id == session_id)
            .values(consent_version=flow_version, consent_at=now if flow_version else None)
        )

    async def delete_session(self, session_id: int) -> None:
        item_ids = select(t.items.c.id).where(t.items.c.session_id == session_id)
        await self.conn.execute(
            delete(t.item_revisions).where(t.item_revisions.c.item_id.in_(item_ids))
        )
        await self.conn.execute(delete(t.items).where(t.items.c.session_id == session_id))
        await self.conn.execute(delete(t.sessions).where(t.sessions.c.id == session_id))

    async def add_item(
        self,
        *,
        session_id: int,
        campaign_id: int,
        participant_id: int,
        seq: int,
        step_id: str,
        text: str,
        value: Any,
        now: datetime,
        source_message_id: str | None = None,
    ) -> None:
        row = item_row(
            session_id=session_id,
            campaign_id=campaign_id,
            participant_id=participant_id,
            seq=seq,
            step_id=step_id,
            text=text,
            value=value,
            now=now,
            source_message_id=source_message_id,
        )
        result = await self.conn.execute(insert(t.items).values(**row).returning(t.items.c.id))
        item_id = result.scalar_one()
        await self.conn.execute(
            insert(t.item_revisions).values(
                item_id=item_id, revision=1, text=text, value=value, deleted=False, created_at=now
            )
        )

    async def revise_item(
        self, *, session_id: int, seq: int, revision: int, text: str, value: Any, now: datetime
    ) -> None:
        item_id = await self._item_id(session_id, seq)
        await self.conn.execute(
            update(t.items)
            .where(t.items.c.id == item_id)
            .values(text=text, value=value, revision=revision, updated_at=now, deleted_at=None)
        )
        await self.conn.execute(
            insert(t.item_revisions).values(
                item_id=item_id,
                revision=revision,
                text=text,
                value=value,
                deleted=False,
                created_at=now,
            )
        )

    async def delete_item(self, *, session_id: int, seq: int, now: datetime) -> None:
        """Soft delete: the item leaves syntheses, its history records the deletion."""
        item_id = await self._item_id(session_id, seq)
        row = (
            await self.conn.execute(
                select(t.items.c.revision, t.items.c.text).where(t.items.c.id == item_id)
            )
        ).one()
        await self.conn.execute(
            update(t.items)
            .where(t.items.c.id == item_id)
            .values(deleted_at=now, updated_at=now, revision=row.revision + 1)
        )
        await self.conn.execute(
            insert(t.item_revisions).values(
                item_id=item_id,
                revision=row.revision + 1,
                text=row.text,
                value=None,
                deleted=True,
                created_at=now,
            )
        )

    async def erase_item_texts(
        self, *, session_id: int, seqs: Collection[int]
    ) -> tuple[datetime | None, list[str]]:
        """Blank the text of these items and of every revision of them (a message the citizen
        deleted on the platform: its words go, the fact that an item was deleted stays).
        Returns when the first of them was written, and the free texts erased."""
        i, r = t.items.c, t.item_revisions.c
        ids = select(i.id).where(i.session_id == session_id, i.seq.in_(list(seqs)))
        rows = (
            await self.conn.execute(
                select(i.created_at, r.text, r.value)
                .join(t.items, i.id == r.item_id)
                .where(r.item_id.in_(ids))
            )
        ).all()
        await self.conn.execute(
            update(t.item_revisions).where(r.item_id.in_(ids)).values(text="", value=None)
        )
        await self.conn.execute(update(t.items).where(i.id.in_(ids)).values(text="", value=None))
        # The vectors were computed from those words: they go with them.
        await self.conn.execute(delete(t.item_vectors).where(t.item_vectors.c.item_id.in_(ids)))
        self.work.erased = True
        return min((row.created_at for row in rows), default=None), free_texts(rows)

    async def items_from_message(
        self, participant_id: int, message_id: str
    ) -> list[tuple[int, int, int]]:
        """(campaign id, session id, seq) of the live items a platform message gave."""
        result = await self.conn.execute(
            select(t.items.c.campaign_id, t.items.c.session_id, t.items.c.seq)
            .where(
                t.items.c.participant_id == participant_id,
                t.items.c.source_message_id == message_id,
                t.items.c.deleted_at.is_(None),
            )
            .order_by(t.items.c.seq)
        )
        return [(r.campaign_id, r.session_id, r.seq) for r in result.all()]

    async def _item_id(self, session_id: int, seq: int) -> int:
        result = await self.conn.execute(
            select(t.items.c.id).where(t.items.c.session_id == session_id, t.items.c.seq == seq)
        )
        return int(result.scalar_one())

    async def campaign_items(
        self, campaign_id: int, *, include_hidden: bool = False
    ) -> list[ItemRecord]:
        """The latest revision of every live public item, in answer order; with
        ``include_hidden`` (facilitator exports) every live item, those not public marked."""
        items = t.items.c
        stmt = (
            item_select()
            .where(items.campaign_id == campaign_id, items.deleted_at.is_(None))
            .order_by(items.created_at, items.id)
        )
        if not include_hidden:
            stmt = stmt.where(await public_items(self.conn, campaign_id))
            return item_records((await self.conn.execute(stmt)).all())
        found = item_records((await self.conn.execute(stmt)).all())
        hidden = await not_public_ids(self.conn, campaign_id)
        return [replace(i, hidden=True) if i.id in hidden else i for i in found]

    async def campaign_revisions(
        self, campaign_id: int, *, include_hidden: bool = False
    ) -> list[RevisionRecord]:
        """Every revision of the campaign's public items (``include_hidden``: of all)."""
        stmt = (
            select(t.item_revisions)
            .join(t.items, t.items.c.id == t.item_revisions.c.item_id)
            .where(t.items.c.campaign_id == campaign_id)
            .order_by(t.item_revisions.c.created_at, t.item_revisions.c.id)
        )
        if not include_hidden:
            stmt = stmt.where(await public_items(self.conn, campaign_id))
        return [
            RevisionRecord(r.item_id, r.revision, r.text, bool(r.deleted), r.created_at)
            for r in (await self.conn.execute(stmt)).all()
        ]

    async def participant_items(self, participant_id: int) -> list[dict[str, Any]]:
        stmt = (
            select(
                t.campaigns.c.slug,
                t.items.c.step_id,
                t.items.c.text,
                t.items.c.value,
                t.items.c.revision,
                t.items.c.created_at,
                t.items.c.updated_at,
                t.items.c.deleted_at,
            )
            .join(t.campaigns, t.campaigns.c.id == t.items.c.campaign_id)
            .where(t.items.c.participant_id == participant_id)
            .order_by(t.items.c.id)
        )
        return [
            {
                "campaign": r.slug,
                "step": r.step_id,
                "text": r.text,
                "value": r.value,
                "revision": r.revision,
                "created_at": r.created_at.isoformat(),
                "updated_at": r.updated_at.isoformat(),
                "deleted": r.deleted_at is not None,
            }
            for r in (await self.conn.execute(stmt)).all()
        ]

    async def participant_sessions(self, participant_id: int) -> list[dict[str, Any]]:
        stmt = (
            select(
                t.campaigns.c.slug,
                t.sessions.c.status,
                t.sessions.c.consent_version,
                t.sessions.c.consent_at,
                t.sessions.c.created_at,
                t.sessions.c.completed_at,
            )
            .join(t.campaigns, t.campaigns.c.id == t.sessions.c.campaign_id)
            .where(t.sessions.c.participant_id == participant_id)
            .order_by(t.sessions.c.id)
        )
        return [
            {
                "campaign": r.slug,
                "status": r.status,
                "consent_flow_version": r.consent_version,
                "consent_at": r.consent_at.isoformat() if r.consent_at else None,
                "started_at": r.created_at.isoformat(),
                "completed_at": r.completed_at.isoformat() if r.completed_at else None,
            }
            for r in (await self.conn.execute(stmt)).all()
        ]

    async def campaign_stats(
        self, campaign_id: int, since_day: datetime, since_week: datetime
    ) -> dict[str, tuple[int, int, int]]:
        """Live items per step for /stats: in all, today, this week. (Its participants are
        counted by qn_bot.participants, as everywhere else.)"""
        i = t.items.c
        per_step = (
            await self.conn.execute(
                select(
                    i.step_id,
                    func.count(),
                    func.count().filter(i.created_at >= since_day),
                    func.count().filter(i.created_at >= since_week),
                )
                .where(i.campaign_id == campaign_id, i.deleted_at.is_(None))
                .group_by(i.step_id)
            )
        ).all()
        return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in per_step}
