"""The transactional outbox: messages queued with the state that caused them, leased to a
worker chat by chat (each chat's head only, so a chat's messages go in order), then marked
sent, retried, failed or cancelled; and what stays of them afterwards.

Deferred messages. A message may be queued with a "not before" time: a reminder that falls in
the citizen's quiet hours is queued at once and goes when they end. It stands outside its
chat's order: a chat's head is its oldest message that is not deferred, and only a chat with
nothing else waiting hands out its oldest deferred message, once that is due. A head blocks the
rest of its chat, so a reminder held for ten hours at the head would hold back every reply to a
citizen who writes meanwhile; and a reminder answers nothing, so nothing needs to come after
it. Once handed out, a deferred message is in flight like any other: no later message of its
chat is handed out before it was sent (never two messages of one chat at once, whatever the
number of workers).

A reminder names the session it is about (``mid_flow_session``) and is checked when it is
handed out: one whose session is finished, whose citizen said /stop or whose campaign is no
longer open is cancelled instead of sent. Checked at send time, not cancelled by each event
that makes it pointless: every way a session ends (an answer in a batch of the group commit, a
closing by the scheduler or the command line) is covered in one place.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Subquery,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import BindParameter

from qn_bot.domain import Address, OutboundMessage
from qn_bot.records import OutboxRecord
from qn_bot.repositories import Reach
from qn_bot.store import schema as t
from qn_bot.store.audiences import still_mid_flow
from qn_bot.store.repository import Repository
from qn_bot.store.rows import PENDING, by_platform, outbox_row


def _reachable(reach: Reach) -> ColumnElement[bool]:
    o = t.outbox
    if not isinstance(reach, Mapping):
        return o.c.platform.in_(list(reach))
    everywhere = [platform for platform, chats in reach.items() if chats is None]
    conditions: list[ColumnElement[bool]] = [o.c.platform.in_(everywhere)] if everywhere else []
    for platform, chats in reach.items():
        if chats is not None:
            conditions.append(and_(o.c.platform == platform, o.c.chat_id.in_(list(chats))))
    return or_(false(), *conditions)


def _chat_heads(
    platforms: Reach, chat: Address | None, skip_chats: Collection[Address]
) -> Subquery:
    """Each reachable chat's head, as a subquery: ``id``, its oldest pending message that is
    not deferred, else its oldest deferred one (see the module's docstring); ``first``, its
    oldest pending message (the head but where a deferred message waits before it)."""
    o = t.outbox
    pending = [PENDING, _reachable(platforms)]
    if chat is not None:
        pending += [o.c.platform == chat.platform, o.c.chat_id == chat.chat_id]
    for n, (platform, chat_ids) in enumerate(
        by_platform((a.platform, a.chat_id) for a in skip_chats)
    ):
        # One expanding parameter: hundreds of ids as literals were hundreds of expression
        # objects to build and to hash at every claim.
        skipped: BindParameter[str] = bindparam(f"skip_{n}", chat_ids, expanding=True)
        pending.append(~and_(o.c.platform == platform, o.c.chat_id.in_(skipped)))
    in_order = func.min(case((o.c.not_before.is_(None), o.c.id)))
    return (
        select(
            func.coalesce(in_order, func.min(o.c.id)).label("id"), func.min(o.c.id).label("first")
        )
        .where(*pending)
        .group_by(o.c.platform, o.c.chat_id)
        .subquery()
    )


#: What a worker needs of a row to send it (and to cancel a pointless reminder).
_SENDABLE = (
    t.outbox.c.id,
    t.outbox.c.platform,
    t.outbox.c.chat_id,
    t.outbox.c.payload,
    t.outbox.c.attempts,
    t.outbox.c.participant_id,
    t.outbox.c.mid_flow_session_id,
)


def _record(r: Any) -> OutboxRecord:
    return OutboxRecord(
        id=r.id,
        address=Address(r.platform, r.chat_id),
        message=OutboundMessage.from_json(r.payload),
        attempts=r.attempts,
        participant_id=r.participant_id,
    )


def _earlier_lease_end() -> ColumnElement[Any]:
    """When the last lease on a pending message of the outer row's chat, queued before it, runs
    out (NULL: none): only a deferred message, handed out while its chat had nothing else
    waiting, can hold one, and the chat waits for it (see the module's docstring)."""
    o, earlier = t.outbox, t.outbox.alias("earlier")
    return (
        select(func.max(earlier.c.locked_until))
        .where(
            earlier.c.status == literal_column("'pending'"),
            earlier.c.platform == o.c.platform,
            earlier.c.chat_id == o.c.chat_id,
            earlier.c.id < o.c.id,
        )
        .scalar_subquery()
    )


class SqlOutbox(Repository):
    """Outbox rows: queued, leased, sent, retried, failed, purged."""

    __slots__ = ()

    async def enqueue(
        self,
        address: Address,
        message: OutboundMessage,
        now: datetime,
        *,
        participant_id: int | None = None,
        dedupe_key: str | None = None,
        forget_after_send: bool = False,
        not_before: datetime | None = None,
        mid_flow_session: int | None = None,
    ) -> int | None:
        """Queue a message; None when ``dedupe_key`` was already queued (exactly-once sends).
        ``forget_after_send``: the recipient erased themselves; once sent, the row loses its
        chat id too. ``not_before``: deferred until then, outside its chat's order meanwhile.
        ``mid_flow_session``: a reminder about that session, cancelled once it is pointless
        (see the module's docstring)."""
        values = outbox_row(
            address,
            message,
            now,
            participant_id,
            dedupe_key,
            forget_after_send=forget_after_send,
            not_before=not_before,
            mid_flow_session=mid_flow_session,
        )
        if dedupe_key is None:
            result = await self.conn.execute(
                insert(t.outbox).values(**values).returning(t.outbox.c.id)
            )
            return int(result.scalar_one())
        stmt = (
            self._insert(t.outbox)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(t.outbox.c.id)
        )
        row = (await self.conn.execute(stmt)).first()
        return None if row is None else int(row[0])

    async def claim_outbox(
        self,
        now: datetime,
        *,
        limit: int,
        lease: timedelta,
        platforms: Reach,
        chat: Address | None = None,
        skip_chats: Collection[Address] = (),
        owner: str | None = None,
    ) -> list[OutboxRecord]:
        """The oldest pending message of each chat that is due, leased to this worker.

        Only a chat's head is handed out, so one chat's messages are always sent in order.
        ``chat`` restricts the claim to one chat; ``skip_chats`` leaves out chats this worker is
        already sending to; ``owner`` names the worker in the lease (see
        :meth:`outbox_lease_owners`). A reminder that became pointless is cancelled here, and
        its chat's next message is looked for in its place.
        """
        o = t.outbox
        claimed: list[Any] = []  # rows of the select below
        while len(claimed) < limit:
            heads = _chat_heads(platforms, chat, skip_chats)
            lease_end = _earlier_lease_end()
            stmt = (
                select(*_SENDABLE)
                .where(
                    o.c.id.in_(select(heads.c.id)),
                    o.c.next_attempt_at <= now,
                    or_(o.c.locked_until.is_(None), o.c.locked_until < now),
                    or_(lease_end.is_(None), lease_end < now),
                )
                .order_by(o.c.id)
                .limit(limit - len(claimed))
            )
            if self.dialect == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=o)
            rows = (await self.conn.execute(stmt)).all()
            if not rows:
                break
            pointless = await self._cancel_pointless(rows)
            kept = [r for r in rows if r.id not in pointless]
            if kept:
                await self.conn.execute(
                    update(o)
                    .where(o.c.id.in_([r.id for r in kept]))
                    .values(locked_until=now + lease, locked_by=owner)
                )
            claimed += kept
            if not pointless:
                break
        return [_record(r) for r in claimed]

    async def _cancel_pointless(self, rows: Sequence[Any]) -> set[int]:
        """Cancel the reminders of ``rows`` that became pointless; returns their ids."""
        sessions = {r.mid_flow_session_id for r in rows if r.mid_flow_session_id is not None}
        if not sessions:
            return set()
        live = set((await self.conn.execute(still_mid_flow(sessions))).scalars())
        pointless = {
            r.id
            for r in rows
            if r.mid_flow_session_id is not None and r.mid_flow_session_id not in live
        }
        if pointless:
            await self.conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id.in_(list(pointless)))
                .values(
                    status="cancelled",
                    payload=null(),
                    locked_until=None,
                    last_error="pointless: the session ended, the citizen said /stop or the "
                    "campaign closed",
                )
            )
        return pointless

    async def outbox_take_due(
        self, now: datetime, *, platforms: Collection[str], limit: int
    ) -> list[OutboxRecord]:
        """For a worker that delivers within this very transaction (a platform whose messages
        are rows of our own database): the pending messages that are due and not leased, of
        every chat at once, oldest first, up to ``limit``. No lease: the caller marks them
        sent (or failed) before it commits. A chat gives only the unbroken run from its head:
        nothing past a message that is not due, leased, or being taken by another worker, so
        its messages are still kept in order."""
        o = t.outbox
        if not platforms:
            return []
        stmt = (
            select(*_SENDABLE)
            .where(
                PENDING,
                o.c.platform.in_(list(platforms)),
                o.c.next_attempt_at <= now,
                or_(o.c.locked_until.is_(None), o.c.locked_until < now),
            )
            .order_by(o.c.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            # Another worker's rows are skipped, not waited for; the check below then stops
            # their chats at the gap.
            stmt = stmt.with_for_update(skip_locked=True, of=o)
        rows = (await self.conn.execute(stmt)).all()
        if not rows:
            return []
        # Every pending message of those chats up to the newest taken, as they stand (a read
        # waits for no lock): a chat's run ends at the first one not taken above.
        taken = {r.id for r in rows}
        gaps: dict[tuple[str, str], int] = {}
        for n, (platform, chat_ids) in enumerate(
            by_platform({(r.platform, r.chat_id) for r in rows})
        ):
            chats: BindParameter[str] = bindparam(f"chats_{n}", chat_ids, expanding=True)
            before = (
                select(o.c.chat_id, func.min(o.c.id))
                .where(
                    PENDING,
                    o.c.platform == platform,
                    o.c.chat_id.in_(chats),
                    o.c.id <= max(taken),
                    o.c.id.not_in(bindparam(f"taken_{n}", sorted(taken), expanding=True)),
                    # A deferred message waits outside its chat's order (see the module).
                    or_(o.c.not_before.is_(None), o.c.not_before <= now),
                )
                .group_by(o.c.chat_id)
            )
            for chat_id, first in (await self.conn.execute(before)).all():
                gaps[(platform, str(chat_id))] = int(first)
        pointless = await self._cancel_pointless(rows)
        return [
            _record(r)
            for r in rows
            if r.id < gaps.get((r.platform, r.chat_id), r.id + 1) and r.id not in pointless
        ]

    async def outbox_sent(
        self, outbox_ids: int | Collection[int], now: datetime, *, keep_payload: bool = False
    ) -> None:
        """Mark messages sent. Their content goes at once unless ``keep_payload`` ([retention]
        sent_payload_hours: the purge empties it later)."""
        ids = [outbox_ids] if isinstance(outbox_ids, int) else list(outbox_ids)
        if not ids:
            return
        o = t.outbox
        values: dict[str, Any] = {
            "status": "sent",
            "sent_at": now,
            "locked_until": None,
            "attempts": o.c.attempts + 1,
        }
        if not keep_payload:
            values["payload"] = null()
        await self.conn.execute(update(o).where(o.c.id.in_(ids)).values(**values))
        forgotten = await self.conn.execute(
            update(o)
            .where(o.c.id.in_(ids), o.c.forget_after_send)
            .values(chat_id="", payload=null(), participant_id=None)
        )
        if forgotten.rowcount:
            self.work.erased = True

    async def outbox_retry(
        self, outbox_id: int, at: datetime, error: str, *, failed_attempt: bool = True
    ) -> None:
        """Try again at ``at``. A platform's "slow down" is no failed attempt: it must not use up
        the retry budget of a message held back by rate limits."""
        values: dict[str, Any] = {
            "next_attempt_at": at,
            "locked_until": None,
            "last_error": error[:2000],
        }
        if failed_attempt:
            values["attempts"] = t.outbox.c.attempts + 1
        await self.conn.execute(update(t.outbox).where(t.outbox.c.id == outbox_id).values(**values))

    async def outbox_failed(
        self, outbox_id: int, error: str, *, keep_payload: bool = False
    ) -> None:
        """Give up on a message; like a sent one, it keeps its content only if asked to."""
        values: dict[str, Any] = {
            "status": "failed",
            "locked_until": None,
            "last_error": error[:2000],
            "attempts": t.outbox.c.attempts + 1,
        }
        if not keep_payload:
            values["payload"] = null()
        await self.conn.execute(update(t.outbox).where(t.outbox.c.id == outbox_id).values(**values))

    async def outbox_fail_chat(
        self, address: Address, error: str, *, keep_payload: bool = False
    ) -> int:
        """Give up on every pending message of one chat (the recipient blocked the bot)."""
        values: dict[str, Any] = {
            "status": "failed",
            "locked_until": None,
            "last_error": error[:2000],
        }
        if not keep_payload:
            values["payload"] = null()
        result = await self.conn.execute(
            update(t.outbox)
            .where(
                t.outbox.c.platform == address.platform,
                t.outbox.c.chat_id == address.chat_id,
                PENDING,
            )
            .values(**values)
        )
        return int(result.rowcount)

    async def outbox_lease_owners(self, now: datetime, *, besides: str) -> list[str]:
        """Workers other than ``besides`` that hold leases still running."""
        o = t.outbox
        stmt = (
            select(o.c.locked_by)
            .where(
                o.c.status == "pending",
                o.c.locked_until > now,
                o.c.locked_by.is_not(None),
                o.c.locked_by != besides,
            )
            .distinct()
        )
        return [r.locked_by for r in (await self.conn.execute(stmt)).all()]

    async def outbox_release_owner(self, owner: str) -> int:
        """Hand back every lease of a worker that died; returns how many rows it held."""
        o = t.outbox
        result = await self.conn.execute(
            update(o)
            .where(o.c.status == "pending", o.c.locked_by == owner)
            .values(locked_until=None, locked_by=None)
        )
        return int(result.rowcount)

    async def outbox_release_leases(self, platforms: Reach) -> None:
        """Hand back the leases on the chats ``platforms`` reaches (a dead process's)."""
        await self.conn.execute(
            update(t.outbox)
            .where(
                t.outbox.c.status == "pending",
                t.outbox.c.locked_until.is_not(None),
                _reachable(platforms),
            )
            .values(locked_until=None)
        )

    async def outbox_states(
        self, dedupe_keys: Collection[str]
    ) -> dict[str, tuple[str, int, str | None]]:
        """(status, attempts, last error) of the outbox rows with these dedupe keys."""
        if not dedupe_keys:
            return {}
        o = t.outbox.c
        stmt = select(o.dedupe_key, o.status, o.attempts, o.last_error).where(
            o.dedupe_key.in_(list(dedupe_keys))
        )
        return {
            r.dedupe_key: (r.status, r.attempts, r.last_error)
            for r in (await self.conn.execute(stmt)).all()
        }

    async def outbox_pending(self, platforms: Sequence[str] | None = None) -> int:
        stmt = select(func.count()).select_from(t.outbox).where(t.outbox.c.status == "pending")
        if platforms is not None:
            stmt = stmt.where(t.outbox.c.platform.in_(list(platforms)))
        return int((await self.conn.execute(stmt)).scalar_one())

    async def outbox_backlog(self, now: datetime) -> dict[str, tuple[int, datetime | None]]:
        """A deferred message waits only from its "not before" time on: reminders held through
        the night are no backlog."""
        o = t.outbox.c
        stmt = (
            select(o.platform, func.count(), func.min(func.coalesce(o.not_before, o.created_at)))
            .where(o.status == "pending", or_(o.not_before.is_(None), o.not_before <= now))
            .group_by(o.platform)
        )
        rows = (await self.conn.execute(stmt)).all()
        return {str(platform): (int(count), _aware(oldest)) for platform, count, oldest in rows}

    async def next_outbox_due(
        self, platforms: Reach, *, skip_chats: Collection[Address] = ()
    ) -> datetime | None:
        """When :meth:`claim_outbox` (with the same ``skip_chats``) will next find something:
        the earliest a chat's head is due and not leased. A chat's later messages wait for
        its head; counting them, or heads leased to a sending worker, made an idle worker poll
        every 10 ms while a paced backlog waited. A head that waits for a deferred message of
        its chat in flight is free when that message's lease runs out."""
        o = t.outbox
        heads = _chat_heads(platforms, None, skip_chats)
        lease_end = _earlier_lease_end()
        own = case(
            (o.c.locked_until > o.c.next_attempt_at, o.c.locked_until), else_=o.c.next_attempt_at
        )
        # A chat's first message has nothing before it: the look for an earlier lease, one
        # index search per chat, is left out for all but the few heads a deferred one precedes.
        free_at = case((heads.c.first == heads.c.id, own), (lease_end > own, lease_end), else_=own)
        stmt = select(func.min(free_at)).select_from(heads.join(o, o.c.id == heads.c.id))
        value = (await self.conn.execute(stmt)).scalar_one()
        return t.UTCDateTime().process_result_value(value, self.conn.dialect)

    async def outbox_progress(self, prefix: str) -> tuple[int, int]:
        """(sent or failed, total) of the outbox rows whose dedupe key starts with ``prefix``."""
        o = t.outbox.c
        like = prefix.replace("%", r"\%").replace("_", r"\_") + "%"
        stmt = select(func.count(), func.count().filter(o.status != "pending")).where(
            o.dedupe_key.like(like, escape="\\")
        )
        total, done = (await self.conn.execute(stmt)).one()
        return int(done), int(total)

    async def messages_with_content(
        self, since: datetime, *, besides_participant: int | None = None
    ) -> list[tuple[int, OutboundMessage]]:
        """Messages queued since ``since`` that still hold content — waiting to be sent, or sent
        and kept ([retention] sent_payload_hours) — with their ids."""
        o = t.outbox.c
        stmt = select(o.id, o.payload).where(o.payload.is_not(None), o.created_at >= since)
        if besides_participant is not None:
            stmt = stmt.where(
                or_(o.participant_id.is_(None), o.participant_id != besides_participant)
            )
        rows = (await self.conn.execute(stmt.order_by(o.id))).all()
        return [(r.id, OutboundMessage.from_json(r.payload)) for r in rows]

    async def replace_message(self, outbox_id: int, message: OutboundMessage) -> None:
        await self.conn.execute(
            update(t.outbox).where(t.outbox.c.id == outbox_id).values(payload=message.to_json())
        )
        self.work.erased = True

    async def purge_sent_payloads(self, before: datetime, *, limit: int) -> int:
        """Empty up to ``limit`` sent (or failed) messages last tried before ``before``."""
        o = t.outbox.c
        kept = select(o.id).where(
            o.status != literal_column("'pending'"),
            o.payload.is_not(None),
            o.next_attempt_at < before,
        )
        result = await self.conn.execute(
            update(t.outbox).where(o.id.in_(self._batch(kept, limit))).values(payload=null())
        )
        return int(result.rowcount)

    async def purge_outbox_rows(self, before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` sent or failed messages last tried before ``before``; those
        with a dedupe key stay (they make a send exactly-once)."""
        o = t.outbox.c
        done = select(o.id).where(
            o.status.in_(["sent", "failed", "cancelled"]),
            o.next_attempt_at < before,
            # Not "dedupe_key IS NULL": without statistics SQLite then picks the dedupe keys'
            # index (NULL for most rows) and walks the whole history instead of ix_outbox_due.
            func.coalesce(o.dedupe_key, "") == "",
        )
        result = await self.conn.execute(delete(t.outbox).where(o.id.in_(self._batch(done, limit))))
        return int(result.rowcount)


def _aware(value: object) -> datetime | None:
    # min() keeps the column's type on both dialects; a string is SQLite's raw text, read back.
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
