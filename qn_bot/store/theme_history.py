"""Kept weekly themes (issue 14 §4): each completed week's themes of a step with their identity
across weeks, and the items whose words make each label (checked when read, so that a label
never outlives the citizens who wrote its words)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from qn_bot.records import KeptTheme, StoredTheme
from qn_bot.store import schema as t
from qn_bot.store.moderation import public_items
from qn_bot.store.repository import Repository

_w = t.theme_weeks.c
_h = t.theme_label_items.c
_i = t.items.c


def _stored(row: Any) -> StoredTheme:
    return StoredTheme(
        id=row.id,
        step_id=row.step_id,
        start=row.period_start,
        end=row.period_end,
        rank=row.rank,
        identity=row.origin_id if row.origin_id is not None else row.id,
        parents=tuple(int(p) for p in row.parents),
        label=row.label,
        count=row.items,
        people=row.people,
        centroid=row.centroid,
        stale=row.stale,
    )


class SqlThemeHistory(Repository):
    __slots__ = ()

    async def kept_weeks(
        self,
        campaign_id: int,
        step_ids: Collection[str],
        model: str,
        since: datetime,
        until: datetime,
    ) -> list[StoredTheme]:
        stmt = (
            select(t.theme_weeks)
            .where(
                _w.campaign_id == campaign_id,
                _w.step_id.in_(list(step_ids)),
                _w.model == model,
                _w.period_start >= since,
                _w.period_end <= until,
            )
            .order_by(_w.step_id, _w.period_start, _w.rank)
        )
        return [_stored(r) for r in (await self.conn.execute(stmt)).all()]

    async def keep_week(
        self,
        campaign_id: int,
        step_id: str,
        model: str,
        start: datetime,
        end: datetime,
        themes: Sequence[KeptTheme],
        now: datetime,
    ) -> list[StoredTheme] | None:
        rows = []
        for rank, theme in enumerate(themes):
            values = {
                "campaign_id": campaign_id,
                "step_id": step_id,
                "model": model,
                "period_start": start,
                "period_end": end,
                "rank": rank,
                "origin_id": theme.identity,
                "parents": list(theme.parents),
                "label": theme.label[:200],
                "items": theme.count,
                "people": theme.people,
                "centroid": theme.centroid,
                "made_at": now,
            }
            # The first row claims the week: whoever comes second writes nothing.
            stmt = self._insert(t.theme_weeks).values(**values)
            if rank == 0:
                stmt = stmt.on_conflict_do_nothing()
            row = (await self.conn.execute(stmt.returning(t.theme_weeks))).first()
            if row is None:
                return None
            rows.append(_stored(row))
            await self._hold(row.id, theme.holders)
        return rows

    async def _hold(self, theme_id: int, holders: Sequence[int]) -> None:
        """Tie the label to its items at their current revision."""
        if not holders:
            return
        current = select(_i.id, _i.revision).where(_i.id.in_(list(holders)))
        found = (await self.conn.execute(current)).all()
        if found:
            await self.conn.execute(
                t.theme_label_items.insert(),
                [{"theme_id": theme_id, "item_id": r.id, "revision": r.revision} for r in found],
            )

    async def label_people(self, theme_ids: Collection[int]) -> dict[int, int]:
        ids = sorted(set(theme_ids))
        out = dict.fromkeys(ids, 0)
        if not ids:
            return out
        campaigns = select(_w.campaign_id).where(_w.id.in_(ids)).distinct()
        for campaign_id in (await self.conn.execute(campaigns)).scalars():
            still = and_(
                _i.id == _h.item_id,
                _i.revision == _h.revision,
                _i.deleted_at.is_(None),
                _i.text != "",
            )
            stmt = (
                select(_h.theme_id, func.count(_i.participant_id.distinct()))
                .join(t.items, still)
                .join(t.theme_weeks, _w.id == _h.theme_id)
                .where(
                    _h.theme_id.in_(ids),
                    _w.campaign_id == campaign_id,
                    await public_items(self.conn, campaign_id),
                )
                .group_by(_h.theme_id)
            )
            out.update({int(i): int(n) for i, n in (await self.conn.execute(stmt)).all()})
        return out

    async def relabel(self, theme_id: int, label: str, holders: Sequence[int]) -> None:
        await self.conn.execute(
            update(t.theme_weeks).where(_w.id == theme_id).values(label=label, stale=False)
        )
        await self.conn.execute(delete(t.theme_label_items).where(_h.theme_id == theme_id))
        await self._hold(theme_id, holders)

    async def drop_stale_labels(self, people: int) -> int:
        """What the embedding worker runs each round, beside forgetting deleted items' vectors:
        a label is derived from citizens' words and goes soon after they do, read or not."""
        still = (
            select(func.count(_i.participant_id.distinct()))
            .select_from(t.theme_label_items)
            .join(
                t.items,
                and_(
                    _i.id == _h.item_id,
                    _i.revision == _h.revision,
                    _i.deleted_at.is_(None),
                    _i.text != "",
                ),
            )
            .where(_h.theme_id == _w.id)
            .scalar_subquery()
        )
        result = await self.conn.execute(
            update(t.theme_weeks).where(_w.label != "", still < people).values(label="", stale=True)
        )
        return int(result.rowcount or 0)
