"""Moderation: which items are public, citizens' flags, and the audit trail of every act.

Every public read of items (qn_bot.store.sessions, digest_reads, participants) filters with
:func:`public_items`, at the query: a hidden item (or, under pre-moderation, one not approved)
leaves the database only for the facilitator's own exports and the citizen's own data.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from qn_bot.domain import Moderation
from qn_bot.records import ModeratedItem, ModerationAct
from qn_bot.store import schema as t
from qn_bot.store.repository import Repository

HIDDEN, SHOWN = "hidden", "shown"
ACT_HIDE, ACT_SHOW, ACT_FLAG = "hide", "show", "flag"
_STATE_OF_ACT = {ACT_HIDE: HIDDEN, ACT_SHOW: SHOWN}


async def public_items(conn: AsyncConnection, campaign_id: int) -> ColumnElement[bool]:
    """The condition a public read of ``campaign_id``'s items adds: the item is public.

    Post-moderation with nothing hidden (most campaigns) costs nothing more: the condition is
    then always true, and the planner drops it (the million-item digest keeps its pace).
    """
    mode = (
        await conn.execute(select(t.campaigns.c.moderation).where(t.campaigns.c.id == campaign_id))
    ).scalar_one_or_none()
    m = t.item_moderation.c
    if mode == Moderation.PRE.value:
        approved = select(m.item_id).where(m.campaign_id == campaign_id, m.state == SHOWN)
        return t.items.c.id.in_(approved)
    hidden = select(m.item_id).where(m.campaign_id == campaign_id, m.state == HIDDEN)
    if (await conn.execute(hidden.limit(1))).first() is None:
        return true()
    return t.items.c.id.not_in(hidden)


async def not_public_ids(conn: AsyncConnection, campaign_id: int) -> set[int]:
    """The ids of the campaign's items that public outputs leave out."""
    i = t.items.c
    public = await public_items(conn, campaign_id)
    stmt = select(i.id).where(i.campaign_id == campaign_id, ~public)
    return {int(r) for r in (await conn.execute(stmt)).scalars()}


def _is_public(mode: str) -> ColumnElement[bool]:
    """Per row, for listings: public given the campaign's ``mode`` and the item's state."""
    state = t.item_moderation.c.state
    if mode == Moderation.PRE.value:
        return func.coalesce(state == SHOWN, False)
    return or_(state.is_(None), state != HIDDEN)


class SqlModeration(Repository):
    """Decisions on items, flags and the audit trail."""

    __slots__ = ()

    async def _mode(self, campaign_id: int) -> str:
        mode = (
            await self.conn.execute(
                select(t.campaigns.c.moderation).where(t.campaigns.c.id == campaign_id)
            )
        ).scalar_one()
        return str(mode)

    def _listing(self, mode: str) -> Select[Any]:
        i, m = t.items.c, t.item_moderation.c
        flags = (
            select(func.count())
            .where(t.item_flags.c.item_id == i.id)
            .correlate(t.items)
            .scalar_subquery()
        )
        return select(
            i.id,
            i.campaign_id,
            i.participant_id,
            i.step_id,
            i.text,
            i.created_at,
            m.state,
            flags.label("flags"),
            _is_public(mode).label("public"),
        ).select_from(t.items.outerjoin(t.item_moderation, m.item_id == i.id))

    @staticmethod
    def _records(rows: Sequence[Any]) -> list[ModeratedItem]:
        return [
            ModeratedItem(
                id=int(r.id),
                campaign_id=r.campaign_id,
                participant_id=r.participant_id,
                step_id=r.step_id,
                text=r.text,
                created_at=r.created_at,
                state=r.state,
                flags=int(r.flags),
                public=bool(r.public),
            )
            for r in rows
        ]

    async def items(
        self, campaign_id: int, *, hidden_only: bool = False, limit: int | None = None
    ) -> list[ModeratedItem]:
        """The campaign's live items, newest first (``hidden_only``: those not public)."""
        mode = await self._mode(campaign_id)
        i = t.items.c
        stmt = self._listing(mode).where(i.campaign_id == campaign_id, i.deleted_at.is_(None))
        if hidden_only:
            stmt = stmt.where(~_is_public(mode))
        stmt = stmt.order_by(i.id.desc()).limit(limit)
        return self._records((await self.conn.execute(stmt)).all())

    async def items_by_id(self, item_ids: Collection[int]) -> dict[int, ModeratedItem]:
        """The live items of these ids, whatever their campaign (the caller checks it)."""
        found: dict[int, ModeratedItem] = {}
        campaigns = (
            await self.conn.execute(
                select(t.items.c.campaign_id).where(t.items.c.id.in_(list(item_ids))).distinct()
            )
        ).scalars()
        for campaign_id in list(campaigns):
            mode = await self._mode(campaign_id)
            stmt = self._listing(mode).where(
                t.items.c.id.in_(list(item_ids)),
                t.items.c.campaign_id == campaign_id,
                t.items.c.deleted_at.is_(None),
            )
            found.update((r.id, r) for r in self._records((await self.conn.execute(stmt)).all()))
        return found

    async def next_to_moderate(self, campaign_id: int) -> ModeratedItem | None:
        """What /moderer shows next: an item flagged since it was last decided (most flagged
        first), else the newest undecided one."""
        mode = await self._mode(campaign_id)
        i, m, f = t.items.c, t.item_moderation.c, t.item_flags.c
        live = and_(i.campaign_id == campaign_id, i.deleted_at.is_(None))
        flagged_since = (
            select(func.count())
            .where(
                f.item_id == i.id,
                or_(m.decided_at.is_(None), f.created_at > m.decided_at),
            )
            .correlate(t.items, t.item_moderation)
            .scalar_subquery()
        )
        stmt = (
            self._listing(mode)
            .where(live, flagged_since > 0)
            .order_by(flagged_since.desc(), i.id.desc())
            .limit(1)
        )
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            stmt = self._listing(mode).where(live, m.state.is_(None))
            row = (await self.conn.execute(stmt.order_by(i.id.desc()).limit(1))).first()
        return None if row is None else self._records([row])[0]

    async def decide(
        self, campaign_id: int, item_ids: Collection[int], act: str, actor: str, now: datetime
    ) -> None:
        """Hide (``"hide"``) or show/approve (``"show"``) items of ``campaign_id``; each act
        goes to the audit trail."""
        state = _STATE_OF_ACT[act]
        ids = sorted(set(item_ids))
        if not ids:
            return
        await self.conn.execute(
            delete(t.item_moderation).where(t.item_moderation.c.item_id.in_(ids))
        )
        await self.conn.execute(
            t.item_moderation.insert(),
            [
                {"item_id": i, "campaign_id": campaign_id, "state": state, "decided_at": now}
                for i in ids
            ],
        )
        await self._log(campaign_id, ids, act, actor, now)

    async def flag(
        self, campaign_id: int, item_id: int, participant_id: int, actor: str, now: datetime
    ) -> bool:
        """A citizen flags an item; False when they had already."""
        stmt = (
            self._insert(t.item_flags)
            .values(
                item_id=item_id,
                campaign_id=campaign_id,
                participant_id=participant_id,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["item_id", "participant_id"])
        )
        if (await self.conn.execute(stmt)).rowcount != 1:
            return False
        await self._log(campaign_id, [item_id], ACT_FLAG, actor, now)
        return True

    async def _log(
        self, campaign_id: int, item_ids: Sequence[int], act: str, actor: str, now: datetime
    ) -> None:
        await self.conn.execute(
            t.moderation_log.insert(),
            [
                {
                    "campaign_id": campaign_id,
                    "item_id": i,
                    "action": act,
                    "actor": actor,
                    "created_at": now,
                }
                for i in item_ids
            ],
        )

    async def acts(self, campaign_id: int, *, limit: int | None = None) -> list[ModerationAct]:
        """The audit trail of a campaign, newest first."""
        log = t.moderation_log.c
        stmt = (
            select(log.item_id, log.action, log.actor, log.created_at)
            .where(log.campaign_id == campaign_id)
            .order_by(log.id.desc())
            .limit(limit)
        )
        return [
            ModerationAct(int(r.item_id), r.action, r.actor, r.created_at)
            for r in (await self.conn.execute(stmt)).all()
        ]

    async def not_public(self, campaign_id: int) -> set[int]:
        """The ids of the campaign's items that public outputs leave out."""
        return await not_public_ids(self.conn, campaign_id)
