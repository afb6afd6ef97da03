"""Peer votes (issue 15): the `votes` table and the campaign's last opinion groups as a
repository, and the batched vote write group commit uses."""

from __future__ import annotations

from array import array
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, case, cast, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from qn_bot.records import Statement, Vote, VoteColumns, VoteCounts
from qn_bot.store import schema as t
from qn_bot.store.lean import LeanStatement
from qn_bot.store.moderation import public_items
from qn_bot.store.repository import Repository

_v = t.votes.c
_i = t.items.c

#: Rows per statement when groups are saved (SQLite's bound parameters are limited).
_GROUP_ROWS = 500


async def public_statements_of(
    conn: AsyncConnection, campaign_id: int, step_ids: Collection[str]
) -> ColumnElement[bool]:
    """Which items are public statements: live, public (moderation: not hidden, approved under
    pre-moderation) items of the campaign's free-text steps. The one place that says so: every
    output of votes (cards, counts, the opinion map) reads statements through it."""
    return and_(
        _i.campaign_id == campaign_id,
        _i.step_id.in_(list(step_ids)),
        _i.deleted_at.is_(None),
        await public_items(conn, campaign_id),
    )


def vote_row(
    *, participant_id: int, item_id: int, campaign_id: int, value: Vote, now: datetime
) -> dict[str, Any]:
    return {
        "participant_id": participant_id,
        "item_id": item_id,
        "campaign_id": campaign_id,
        "value": int(value),
        "created_at": now,
        "updated_at": now,
    }


def _upsert(dialect: str) -> Any:
    """INSERT of a vote that replaces the citizen's earlier vote on the item, never a later one
    (a replayed event must not undo a change of mind)."""
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(t.votes)
    return stmt.on_conflict_do_update(
        index_elements=[_v.participant_id, _v.item_id],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        where=_v.updated_at <= stmt.excluded.updated_at,
    )


_VOTE_KEYS = list(
    vote_row(participant_id=0, item_id=0, campaign_id=0, value=Vote.PASS, now=datetime.min)
)
#: Group commit's vote statement, per dialect (each has its own ON CONFLICT construct).
BATCHED_VOTE = {
    dialect: LeanStatement(_upsert(dialect), _VOTE_KEYS) for dialect in ("sqlite", "postgresql")
}


class SqlVotes(Repository):
    """Votes on statements and the last opinion groups."""

    __slots__ = ()

    async def record_vote(
        self, *, participant_id: int, item_id: int, campaign_id: int, value: Vote, now: datetime
    ) -> None:
        row = vote_row(
            participant_id=participant_id,
            item_id=item_id,
            campaign_id=campaign_id,
            value=value,
            now=now,
        )
        await self.conn.execute(_upsert(self.dialect).values(**row))

    async def public_statements(
        self, campaign_id: int, step_ids: Collection[str]
    ) -> list[Statement]:
        rows = await self.conn.execute(
            select(_i.id, _i.participant_id, _i.step_id, _i.text, _i.created_at)
            .where(await public_statements_of(self.conn, campaign_id, step_ids))
            .order_by(_i.id)
        )
        return [Statement(*row) for row in rows]

    async def has_votes(self, campaign_id: int) -> bool:
        found = await self.conn.execute(
            select(_v.item_id).where(_v.campaign_id == campaign_id).limit(1)
        )
        return found.first() is not None

    async def voted_items(self, participant_id: int, campaign_id: int) -> set[int]:
        rows = await self.conn.execute(
            select(_v.item_id).where(
                _v.participant_id == participant_id, _v.campaign_id == campaign_id
            )
        )
        return {int(item_id) for item_id in rows.scalars()}

    async def voted_items_of(
        self, participant_ids: Collection[int]
    ) -> dict[tuple[int, int], set[int]]:
        found: dict[tuple[int, int], set[int]] = {}
        if not participant_ids:
            return found
        rows = await self.conn.execute(
            select(_v.participant_id, _v.campaign_id, _v.item_id).where(
                _v.participant_id.in_(list(participant_ids))
            )
        )
        for participant, campaign, item in rows:
            found.setdefault((int(participant), int(campaign)), set()).add(int(item))
        return found

    async def participant_votes(self, participant_id: int, campaign_id: int) -> dict[int, Vote]:
        rows = await self.conn.execute(
            select(_v.item_id, _v.value).where(
                _v.participant_id == participant_id, _v.campaign_id == campaign_id
            )
        )
        return {int(item_id): Vote(value) for item_id, value in rows}

    async def vote_counts(
        self, campaign_id: int, step_ids: Collection[str]
    ) -> dict[int, VoteCounts]:
        def count(value: int) -> Any:
            return func.sum(case((_v.value == value, 1), else_=0))

        rows = await self.conn.execute(
            select(_v.item_id, count(1), count(-1), count(0))
            .join(t.items, _i.id == _v.item_id)
            .where(
                _v.campaign_id == campaign_id,
                await public_statements_of(self.conn, campaign_id, step_ids),
            )
            .group_by(_v.item_id)
        )
        return {
            int(item_id): VoteCounts(int(agree), int(disagree), int(passed))
            for item_id, agree, disagree, passed in rows
        }

    async def vote_columns(self, campaign_id: int) -> VoteColumns:
        # One row per vote costs the driver and SQLAlchemy ~5 µs each (2.5 s for 500,000 on a
        # loaded machine); the database joins the votes into one text instead, read from the
        # covering index, and numpy parses it in a few milliseconds.
        import numpy as np  # the bot's hot path never loads it

        cell = (
            cast(_v.participant_id, Text)
            + ","
            + cast(_v.item_id, Text)
            + ","
            + cast(_v.value, Text)
        )
        joined = (
            func.string_agg(cell, ",")
            if self.dialect == "postgresql"
            else func.group_concat(cell, ",")
        )
        text = (
            await self.conn.execute(select(joined).where(_v.campaign_id == campaign_id))
        ).scalar()
        if not text:
            return VoteColumns(array("q"), array("q"), array("q"))
        triples = np.fromstring(text, dtype=np.int64, sep=",").reshape(-1, 3)
        return VoteColumns(*(array("q", column.tobytes()) for column in triples.T.copy()))

    async def last_groups(self, campaign_id: int) -> dict[int, int]:
        g = t.opinion_groups.c
        rows = await self.conn.execute(
            select(g.participant_id, g.group_id).where(g.campaign_id == campaign_id)
        )
        return {int(participant): int(group) for participant, group in rows}

    async def save_groups(self, campaign_id: int, groups: Mapping[int, int]) -> None:
        g = t.opinion_groups.c
        await self.conn.execute(delete(t.opinion_groups).where(g.campaign_id == campaign_id))
        rows = [
            {"campaign_id": campaign_id, "participant_id": participant, "group_id": group}
            for participant, group in groups.items()
        ]
        for start in range(0, len(rows), _GROUP_ROWS):
            await self.conn.execute(insert(t.opinion_groups), rows[start : start + _GROUP_ROWS])
