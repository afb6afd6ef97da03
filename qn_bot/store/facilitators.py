"""Facilitators: who may run facilitator commands, everywhere or for one campaign."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, or_, select

from qn_bot.domain import UserRef
from qn_bot.store import schema as t
from qn_bot.store.repository import Repository


class SqlFacilitators(Repository):
    """Facilitator grants."""

    __slots__ = ()

    async def grant_facilitator(
        self, user: UserRef, granted_by: str, now: datetime, campaign_id: int | None = None
    ) -> bool:
        stmt = (
            self._insert(t.facilitators)
            .values(
                platform=user.platform,
                user_id=user.user_id,
                campaign_id=campaign_id,
                granted_by=granted_by,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
        return bool((await self.conn.execute(stmt)).rowcount == 1)

    async def revoke_facilitator(self, user: UserRef, campaign_id: int | None = None) -> bool:
        cond = [
            t.facilitators.c.platform == user.platform,
            t.facilitators.c.user_id == user.user_id,
        ]
        if campaign_id is not None:
            cond.append(t.facilitators.c.campaign_id == campaign_id)
        result = await self.conn.execute(delete(t.facilitators).where(and_(*cond)))
        return bool(result.rowcount)

    async def facilitators(self) -> list[tuple[UserRef, str | None]]:
        stmt = (
            select(t.facilitators.c.platform, t.facilitators.c.user_id, t.campaigns.c.slug)
            .outerjoin(t.campaigns, t.campaigns.c.id == t.facilitators.c.campaign_id)
            .order_by(t.facilitators.c.id)
        )
        return [
            (UserRef(r.platform, r.user_id), r.slug) for r in (await self.conn.execute(stmt)).all()
        ]

    async def is_facilitator(self, user: UserRef, campaign_id: int | None = None) -> bool:
        cond = [
            t.facilitators.c.platform == user.platform,
            t.facilitators.c.user_id == user.user_id,
        ]
        if campaign_id is not None:
            cond.append(
                or_(
                    t.facilitators.c.campaign_id.is_(None),
                    t.facilitators.c.campaign_id == campaign_id,
                )
            )
        row = (await self.conn.execute(select(t.facilitators.c.id).where(*cond).limit(1))).first()
        return row is not None
