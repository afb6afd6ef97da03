"""Campaigns: their rows, their status and when they are due to open or close."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, insert, or_, select, update

from qn_bot.domain import CampaignStatus, Moderation
from qn_bot.errors import CampaignError
from qn_bot.records import CampaignRecord
from qn_bot.store import schema as t
from qn_bot.store.repository import Repository
from qn_bot.store.rows import campaign_record


class SqlCampaigns(Repository):
    """Campaigns and their status."""

    __slots__ = ()

    async def create_campaign(
        self,
        *,
        slug: str,
        title: str,
        flow_id: str,
        flow_version: int,
        flow_source: str,
        now: datetime,
        edition: str | None = None,
        status: CampaignStatus = CampaignStatus.DRAFT,
        opens_at: datetime | None = None,
        closes_at: datetime | None = None,
        min_respondents: int = 5,
        moderation: Moderation = Moderation.POST,
    ) -> CampaignRecord:
        if await self.campaign_by_slug(slug) is not None:
            raise CampaignError(
                f"a campaign named {slug!r} already exists", key="exists", slug=slug
            )
        await self.conn.execute(
            insert(t.campaigns).values(
                slug=slug,
                title=title,
                edition=edition,
                flow_id=flow_id,
                flow_version=flow_version,
                flow_source=flow_source,
                status=status.value,
                opens_at=opens_at,
                closes_at=closes_at,
                created_at=now,
                updated_at=now,
                min_respondents=min_respondents,
                moderation=moderation.value,
            )
        )
        created = await self.campaign_by_slug(slug)
        assert created is not None
        return created

    async def campaign_by_slug(self, slug: str) -> CampaignRecord | None:
        row = (
            await self.conn.execute(select(t.campaigns).where(t.campaigns.c.slug == slug))
        ).first()
        return None if row is None else campaign_record(row)

    async def campaign_by_id(self, campaign_id: int) -> CampaignRecord | None:
        row = (
            await self.conn.execute(select(t.campaigns).where(t.campaigns.c.id == campaign_id))
        ).first()
        return None if row is None else campaign_record(row)

    async def campaigns(self, *statuses: CampaignStatus) -> list[CampaignRecord]:
        stmt = select(t.campaigns).order_by(t.campaigns.c.created_at, t.campaigns.c.id)
        if statuses:
            stmt = stmt.where(t.campaigns.c.status.in_([s.value for s in statuses]))
        return [campaign_record(r) for r in (await self.conn.execute(stmt)).all()]

    async def set_campaign_status(
        self, campaign_id: int, status: CampaignStatus, now: datetime
    ) -> None:
        await self.conn.execute(
            update(t.campaigns)
            .where(t.campaigns.c.id == campaign_id)
            .values(status=status.value, updated_at=now)
        )

    async def set_campaign_min_respondents(self, campaign_id: int, minimum: int) -> None:
        # updated_at stays: it dates the campaign's content (an empty synthesis shows it).
        await self.conn.execute(
            update(t.campaigns)
            .where(t.campaigns.c.id == campaign_id)
            .values(min_respondents=minimum)
        )

    async def set_campaign_moderation(self, campaign_id: int, moderation: Moderation) -> None:
        await self.conn.execute(
            update(t.campaigns)
            .where(t.campaigns.c.id == campaign_id)
            .values(moderation=moderation.value)
        )

    async def compare_and_set_status(
        self, campaign_id: int, expected: CampaignStatus, status: CampaignStatus, now: datetime
    ) -> bool:
        """Move a campaign only if it is still ``expected``: of two processes, one wins."""
        result = await self.conn.execute(
            update(t.campaigns)
            .where(t.campaigns.c.id == campaign_id, t.campaigns.c.status == expected.value)
            .values(status=status.value, updated_at=now)
        )
        return bool(result.rowcount == 1)

    async def campaigns_due(self, now: datetime) -> list[tuple[CampaignRecord, CampaignStatus]]:
        """Campaigns whose opens_at / closes_at has come, with the status they should take."""
        c = t.campaigns.c
        stmt = select(t.campaigns).where(
            or_(
                and_(c.status == CampaignStatus.DRAFT.value, c.opens_at <= now),
                and_(
                    c.status.in_([CampaignStatus.DRAFT.value, CampaignStatus.OPEN.value]),
                    c.closes_at <= now,
                ),
            )
        )
        due: list[tuple[CampaignRecord, CampaignStatus]] = []
        for row in (await self.conn.execute(stmt)).all():
            campaign = campaign_record(row)
            closing = campaign.closes_at is not None and campaign.closes_at <= now
            due.append((campaign, CampaignStatus.CLOSED if closing else CampaignStatus.OPEN))
        return due
