"""The writes of many answers, gathered and sent as a few multi-row statements.

Group commit puts many conversations' messages in one transaction; this turns their writes
(message keys, session states, items and their first revisions, replies) into one statement per
table instead of several per message — statement round trips, not the disk, are what limit a
Python bot on SQLite. Used through :meth:`BatchWrites.flush` inside an open transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, false, insert, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite

from qn_bot.domain import Address, OutboundMessage
from qn_bot.records import Vote
from qn_bot.repositories import Transaction
from qn_bot.store import schema as t
from qn_bot.store.lean import LeanStatement
from qn_bot.store.repository import connection_of
from qn_bot.store.rows import item_row, message_key, outbox_row
from qn_bot.store.votes import BATCHED_VOTE, vote_row

if TYPE_CHECKING:
    from qn_bot.repositories import MessageClaims, OutboxWrites, SessionWrites, VoteWrites
    from qn_bot.store.sql import Tx


@dataclass(slots=True)
class BatchWrites:
    """Gathers writes; :meth:`flush` sends them. Its write methods are a transaction's (the
    Protocols :class:`~qn_bot.repositories.MessageClaims`,
    :class:`~qn_bot.repositories.SessionWrites` and :class:`~qn_bot.repositories.OutboxWrites`,
    same names, same signatures), so one function turns engine events into rows for either."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    completed: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    votes: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    kv: list[dict[str, Any]] = field(default_factory=list)

    async def claim_message(
        self, platform: str, message_id: str, now: datetime, participant_id: int | None = None
    ) -> bool:
        """The caller checked with :meth:`SqlIdempotency.already_claimed` and holds the
        participant's lock, so the claim is taken as won; a plain INSERT still fails the batch
        if another writer got there first."""
        self.messages.append(
            {
                "platform": platform,
                "message_id": message_key(message_id),
                "processed_at": now,
                "participant_id": participant_id,
            }
        )
        return True

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
        """Update a session that exists: a new one's id would have to come back from the
        database before its items could name it."""
        if session_id is None:
            raise ValueError("a batch only updates existing sessions: give their id")
        # As SqlSessions.save_session: every save follows something the citizen sent.
        row = {
            "b_id": session_id,
            "state": state,
            "status": status,
            "step_id": step_id,
            "updated_at": now,
            "last_input_at": now,
            "reminders_sent": 0,
        }
        if status == "completed":
            row["completed_at"] = now
            self.completed.append(row)
        else:
            self.sessions.append(row)
        return session_id

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
        self.items.append(
            item_row(
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
        )

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
    ) -> None:
        """Queue a message; its id is not known before the flush. A ``dedupe_key`` already
        queued fails the flush (a multi-row INSERT has no per-row ON CONFLICT here): the caller
        then handles the batch's messages one transaction each."""
        self.outbox.append(
            outbox_row(
                address,
                message,
                now,
                participant_id,
                dedupe_key,
                forget_after_send=forget_after_send,
                not_before=not_before,
                mid_flow_session=mid_flow_session,
            )
        )

    async def record_vote(
        self, *, participant_id: int, item_id: int, campaign_id: int, value: Vote, now: datetime
    ) -> None:
        """As :meth:`SqlVotes.record_vote`; the rows run one by one in one executemany, so a
        citizen's two votes on one card in a batch end with the later one."""
        self.votes.append(
            vote_row(
                participant_id=participant_id,
                item_id=item_id,
                campaign_id=campaign_id,
                value=value,
                now=now,
            )
        )

    async def update_pending(
        self, participant_id: int, pending_action: str | None, now: datetime
    ) -> None:
        """As ``update_participant(participant_id, now, pending_action=…)``: the question
        waiting on the citizen (a voting card on screen changes it at every vote)."""
        self.pending.append(
            {
                "b_id": participant_id,
                "pending_action": pending_action,
                "pending_since": None if pending_action is None else now,
                "updated_at": now,
            }
        )

    async def kv_set(
        self, key: str, value: Any, now: datetime, *, subject: str | None = None
    ) -> None:
        """As the kv repository's (one write per key in a batch: one message per citizen)."""
        self.kv.append({"key": key, "value": value, "updated_at": now, "subject": subject})

    async def flush(self, tx: Transaction) -> None:
        conn = connection_of(tx)
        await _CLAIM.executemany(conn, self.messages)
        await _SAVE_SESSION.executemany(conn, self.sessions)
        await _SAVE_COMPLETED_SESSION.executemany(conn, self.completed)
        await _ADD_ITEM.executemany(conn, self.items)
        # First revisions copied from the new rows: no ids travel back and forth (a multi-row
        # INSERT … RETURNING in parameter order degrades to one row per statement).
        await _FIRST_REVISION.executemany(conn, self.items)
        await _ENQUEUE.executemany(conn, self.outbox)
        if self.votes:
            await BATCHED_VOTE[conn.dialect.name].executemany(conn, self.votes)
        await _SET_PENDING.executemany(conn, self.pending)
        if self.kv:
            await _KV_SET[conn.dialect.name].executemany(conn, self.kv)


def _keys(row: dict[str, Any]) -> list[str]:
    return list(row)


_NOW = datetime(2000, 1, 1, tzinfo=UTC)
_CLAIM = LeanStatement(
    insert(t.processed_messages), ["platform", "message_id", "processed_at", "participant_id"]
)
_SESSION_KEYS = ["state", "status", "step_id", "updated_at", "last_input_at", "reminders_sent"]
_SAVE_SESSION = LeanStatement(
    update(t.sessions).where(t.sessions.c.id == bindparam("b_id")), _SESSION_KEYS
)
_SAVE_COMPLETED_SESSION = LeanStatement(
    update(t.sessions).where(t.sessions.c.id == bindparam("b_id")),
    [*_SESSION_KEYS, "completed_at"],
)
_ADD_ITEM = LeanStatement(
    insert(t.items),
    _keys(
        item_row(
            session_id=0,
            campaign_id=0,
            participant_id=0,
            seq=0,
            step_id="",
            text="",
            value=None,
            now=_NOW,
            source_message_id=None,
        )
    ),
)
_i = t.items.c
_FIRST_REVISION = LeanStatement(
    insert(t.item_revisions).from_select(
        ["item_id", "revision", "text", "value", "deleted", "created_at"],
        select(_i.id, literal_column("1"), _i.text, _i.value, false(), _i.created_at).where(
            _i.session_id == bindparam("session_id"), _i.seq == bindparam("seq")
        ),
    ),
    [],
)
_SET_PENDING = LeanStatement(
    update(t.participants).where(t.participants.c.id == bindparam("b_id")),
    ["pending_action", "pending_since", "updated_at"],
)


def _kv_upsert(dialect: str) -> Any:
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(t.kv)
    return stmt.on_conflict_do_update(
        index_elements=[t.kv.c.key],
        set_={
            "value": stmt.excluded.value,
            "updated_at": stmt.excluded.updated_at,
            "subject": stmt.excluded.subject,
        },
    )


_KV_SET = {
    dialect: LeanStatement(_kv_upsert(dialect), ["key", "value", "updated_at", "subject"])
    for dialect in ("sqlite", "postgresql")
}
_ENQUEUE = LeanStatement(
    insert(t.outbox), _keys(outbox_row(Address("", ""), OutboundMessage(""), _NOW, None))
)


if TYPE_CHECKING:
    # mypy proves that a batch and a transaction's repositories take the same writes.

    def _same_writes(batch: BatchWrites, tx: Tx) -> None:
        claims: list[MessageClaims] = [batch, tx.idempotency]
        sessions: list[SessionWrites] = [batch, tx.sessions]
        outbox: list[OutboxWrites] = [batch, tx.outbox]
        votes: list[VoteWrites] = [batch, tx.votes]
        del claims, sessions, outbox, votes
