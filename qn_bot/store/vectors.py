"""Stored sentence embeddings of items (themes by meaning, issue 14 §2): what the background
worker still has to embed, its writes, and a step's vectors for the themes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select

from qn_bot.records import ItemToEmbed, ItemVector, StoredVector
from qn_bot.store import schema as t
from qn_bot.store.moderation import public_items
from qn_bot.store.repository import Repository

_i = t.items.c
_e = t.item_vectors.c
#: Rows per insert (SQLite's bound parameters are limited).
_ROWS = 200


class SqlItemVectors(Repository):
    __slots__ = ()

    async def to_embed(
        self, campaign_id: int, step_ids: Collection[str], model: str, limit: int
    ) -> list[ItemToEmbed]:
        """Live items of these steps with no vector of ``model`` for their current revision
        (new, edited, or embedded by another model), oldest first."""
        stmt = (
            select(_i.id, _i.step_id, _i.revision, _i.text)
            .outerjoin(t.item_vectors, _e.item_id == _i.id)
            .where(
                _i.campaign_id == campaign_id,
                _i.step_id.in_(list(step_ids)),
                _i.deleted_at.is_(None),
                _i.text != "",
                or_(_e.item_id.is_(None), _e.revision != _i.revision, _e.model != model),
            )
            .order_by(_i.id)
            .limit(limit)
        )
        rows = (await self.conn.execute(stmt)).all()
        return [ItemToEmbed(r.id, campaign_id, r.step_id, r.revision, r.text) for r in rows]

    async def save_vectors(self, vectors: Sequence[ItemVector]) -> None:
        """Store (or replace) vectors. One whose item changed meanwhile is skipped: the
        revision it was computed from is no longer the item's, so the next round embeds it."""
        live = select(_i.id, _i.revision).where(
            _i.id.in_([v.item_id for v in vectors]), _i.deleted_at.is_(None)
        )
        current = {r.id: r.revision for r in (await self.conn.execute(live)).all()}
        fresh = [v for v in vectors if current.get(v.item_id) == v.revision]
        if not fresh:
            return
        ids = [v.item_id for v in fresh]
        await self.conn.execute(delete(t.item_vectors).where(_e.item_id.in_(ids)))
        for start in range(0, len(fresh), _ROWS):
            await self.conn.execute(
                t.item_vectors.insert(),
                [
                    {
                        "item_id": v.item_id,
                        "campaign_id": v.campaign_id,
                        "step_id": v.step_id,
                        "revision": v.revision,
                        "model": v.model,
                        "vector": v.vector,
                    }
                    for v in fresh[start : start + _ROWS]
                ],
            )

    async def drop_deleted_vectors(self) -> int:
        """Forget the vectors of items the citizen deleted: derived from their words, they go
        with them (erasure and blanking delete them at once; a soft delete here, soon after)."""
        gone = select(_i.id).where(_i.deleted_at.is_not(None))
        result = await self.conn.execute(delete(t.item_vectors).where(_e.item_id.in_(gone)))
        return int(result.rowcount or 0)

    async def count_vectors(
        self, campaign_id: int, step_id: str, model: str, since: datetime, until: datetime
    ) -> int:
        """How many of the step's live items created in [since, until) have a current vector:
        a digest reads the vectors only when there are enough to group (cheap when none)."""
        fresh = and_(_e.item_id == _i.id, _e.revision == _i.revision, _e.model == model)
        stmt = (
            select(func.count())
            .select_from(t.item_vectors)
            .join(t.items, fresh)
            .where(
                _e.campaign_id == campaign_id,
                _e.step_id == step_id,
                _i.deleted_at.is_(None),
                _i.created_at >= since,
                _i.created_at < until,
            )
        )
        return int(await self.conn.scalar(stmt) or 0)

    async def campaign_vectors(self, campaign_id: int, model: str) -> dict[int, bytes]:
        """Item id → current vector of ``model``, for every live item of the campaign that has
        one, hidden ones too (a recap places the citizen's own hidden items)."""
        fresh = and_(_e.item_id == _i.id, _e.revision == _i.revision, _e.model == model)
        stmt = (
            select(_i.id, _e.vector)
            .join(t.item_vectors, fresh)
            .where(_i.campaign_id == campaign_id, _i.deleted_at.is_(None))
        )
        return {r.id: r.vector for r in (await self.conn.execute(stmt)).all()}

    async def step_vectors(
        self,
        campaign_id: int,
        step_id: str,
        model: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[StoredVector]:
        """The step's live, public items with their current vector of ``model`` (oldest first),
        and with None where the worker has not embedded them yet; ``since``/``until``: only
        the items created in [since, until) (a digest's period)."""
        fresh = and_(_e.item_id == _i.id, _e.revision == _i.revision, _e.model == model)
        period = [] if since is None else [_i.created_at >= since]
        period += [] if until is None else [_i.created_at < until]
        stmt = (
            select(_i.id, t.participants.c.pseudonym, _i.text, _e.vector)
            .join(t.participants, t.participants.c.id == _i.participant_id)
            .outerjoin(t.item_vectors, fresh)
            .where(
                _i.campaign_id == campaign_id,
                _i.step_id == step_id,
                _i.deleted_at.is_(None),
                _i.text != "",
                await public_items(self.conn, campaign_id),
                *period,
            )
            .order_by(_i.id)
        )
        rows = (await self.conn.execute(stmt)).all()
        return [StoredVector(r.id, r.pseudonym, r.text, r.vector) for r in rows]
