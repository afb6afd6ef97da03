"""The writes of many answers, gathered and sent as a few multi-row statements.

Group commit puts many conversations' messages in one transaction; this turns their writes
(message keys, session states, items and their first revisions, replies) into one statement per
table instead of several per message — statement round trips, not the disk, are what limit a
Python bot on SQLite. Used through :meth:`BatchWrites.flush` inside an open transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, false, insert, literal_column, select, update

from qn_bot.domain import Address, OutboundMessage
from qn_bot.store import schema as t
from qn_bot.store.lean import LeanStatement
from qn_bot.store.sql import Tx, item_row, message_key, outbox_row


@dataclass(slots=True)
class BatchWrites:
    messages: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    completed: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def claim_message(
        self, platform: str, message_id: str, now: datetime, participant_id: int
    ) -> None:
        """The caller checked with :meth:`Tx.already_claimed` and holds the participant's lock;
        a plain INSERT still fails the batch if another writer got there first."""
        self.messages.append(
            {
                "platform": platform,
                "message_id": message_key(message_id),
                "processed_at": now,
                "participant_id": participant_id,
            }
        )

    def save_session(
        self,
        session_id: int,
        state: dict[str, Any],
        status: str,
        step_id: str | None,
        now: datetime,
    ) -> None:
        # As Tx.save_session: every save follows something the citizen sent.
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

    def add_item(
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
        source_message_id: str | None,
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

    def enqueue(
        self, address: Address, message: OutboundMessage, now: datetime, participant_id: int
    ) -> None:
        self.outbox.append(outbox_row(address, message, now, participant_id))

    async def flush(self, tx: Tx) -> None:
        conn = tx.conn
        await _CLAIM.executemany(conn, self.messages)
        await _SAVE_SESSION.executemany(conn, self.sessions)
        await _SAVE_COMPLETED_SESSION.executemany(conn, self.completed)
        await _ADD_ITEM.executemany(conn, self.items)
        # First revisions copied from the new rows: no ids travel back and forth (a multi-row
        # INSERT … RETURNING in parameter order degrades to one row per statement).
        await _FIRST_REVISION.executemany(conn, self.items)
        await _ENQUEUE.executemany(conn, self.outbox)


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
_ENQUEUE = LeanStatement(
    insert(t.outbox), _keys(outbox_row(Address("", ""), OutboundMessage(""), _NOW, None))
)
