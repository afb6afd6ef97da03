"""Rows to records and records to rows, shared by the repositories (qn_bot/store/*.py) and by
the digest's own queries: one place that knows how a table's row reads as a record."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, literal_column, select

from qn_bot.domain import Address, CampaignStatus, Moderation, OutboundMessage, UserRef
from qn_bot.records import CampaignRecord, ItemRecord, ParticipantRecord
from qn_bot.store import schema as t


def message_key(message_id: str) -> str:
    """What is stored of a platform message id: a digest. Telegram's ids embed the chat id, the
    user id in a private chat, and a key may outlive its sender (/oublier keeps the key of its
    own confirmation so that a redelivery stays a no-op): the key must name no one."""
    return hashlib.blake2b(message_id.encode(), digest_size=16).hexdigest()


def random_pseudonym() -> str:
    """Random, not derived from the platform id: a hash of an id can be reversed by brute force."""
    return "P-" + secrets.token_hex(4).upper()


#: The campaign statuses by their stored value (a dict look-up: the batched reads decode many).
CAMPAIGN_STATUS = {status.value: status for status in CampaignStatus}
MODERATION = {mode.value: mode for mode in Moderation}


def campaign_record(row: Row[Any]) -> CampaignRecord:
    m = row._mapping
    return CampaignRecord(
        id=m["id"],
        slug=m["slug"],
        title=m["title"],
        edition=m["edition"],
        flow_id=m["flow_id"],
        flow_version=m["flow_version"],
        flow_source=m["flow_source"],
        status=CampaignStatus(m["status"]),
        opens_at=m["opens_at"],
        closes_at=m["closes_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        min_respondents=m["min_respondents"],
        moderation=MODERATION[m["moderation"]],
    )


def participant_record(row: Row[Any]) -> ParticipantRecord:
    m = row._mapping
    return ParticipantRecord(
        id=m["id"],
        user=UserRef(m["platform"], m["platform_user_id"]),
        pseudonym=m["pseudonym"],
        language=m["language"],
        reply_to=Address(m["platform"], m["reply_chat_id"]),
        active_campaign_id=m["active_campaign_id"],
        pending_action=m["pending_action"],
        stopped=bool(m["stopped"]),
        unreachable=bool(m["unreachable"]),
        created_at=m["created_at"],
        timezone=m["timezone"],
        signature=m["signature"],
        pending_since=m["pending_since"],
    )


def item_select() -> Select[Any]:
    """Items as exports show them (latest revision, participant, signature): add the filter."""
    return (
        select(
            t.items.c.id,
            t.campaigns.c.slug,
            t.items.c.participant_id,
            t.participants.c.pseudonym,
            t.participants.c.signature,
            t.items.c.step_id,
            t.items.c.seq,
            t.items.c.text,
            t.items.c.value,
            t.items.c.revision,
            t.items.c.created_at,
            t.items.c.updated_at,
        )
        .join(t.campaigns, t.campaigns.c.id == t.items.c.campaign_id)
        .join(t.participants, t.participants.c.id == t.items.c.participant_id)
    )


def item_records(rows: Sequence[Row[Any]]) -> list[ItemRecord]:
    """The rows of :func:`item_select` as records."""
    return [
        ItemRecord(
            id=r.id,
            campaign_slug=r.slug,
            participant_id=r.participant_id,
            pseudonym=r.pseudonym,
            signature=r.signature,
            step_id=r.step_id,
            seq=r.seq,
            text=r.text,
            value=r.value,
            revision=r.revision,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


def free_texts(rows: Iterable[Row[Any, Any, Any]]) -> list[str]:
    """The distinct non-empty texts of rows (text, value) that are free text (no value)."""
    return sorted({r.text for r in rows if r.value is None and r.text})


#: An outbox row waits to be sent — 'pending' written out, not bound: planners use the partial
#: index ix_outbox_pending_heads only when they can see that the query asks for what it holds.
PENDING = t.outbox.c.status == literal_column("'pending'")


def by_platform(keys: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(platform, id) pairs grouped by platform, platforms sorted: one ``IN`` list each, which
    costs a fraction of a row-value ``IN`` of pairs to build and bind."""
    grouped: dict[str, list[str]] = {}
    for platform, key in keys:
        grouped.setdefault(platform, []).append(key)
    return sorted(grouped.items())


def item_row(
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
) -> dict[str, Any]:
    """A new item (first revision) as a row of ``items``."""
    return {
        "source_message_id": source_message_id,
        "session_id": session_id,
        "campaign_id": campaign_id,
        "participant_id": participant_id,
        "seq": seq,
        "step_id": step_id,
        "text": text,
        "value": value,
        "revision": 1,
        "created_at": now,
        "updated_at": now,
    }


def outbox_row(
    address: Address,
    message: OutboundMessage,
    now: datetime,
    participant_id: int | None,
    dedupe_key: str | None = None,
    *,
    forget_after_send: bool = False,
    not_before: datetime | None = None,
    mid_flow_session: int | None = None,
) -> dict[str, Any]:
    """A message to send as a row of ``outbox``, due now, or deferred until ``not_before``."""
    return {
        "forget_after_send": forget_after_send,
        "platform": address.platform,
        "chat_id": address.chat_id,
        "participant_id": participant_id,
        "payload": message.to_json(),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now if not_before is None else max(now, not_before),
        "created_at": now,
        "dedupe_key": dedupe_key,
        "not_before": not_before,
        "mid_flow_session_id": mid_flow_session,
    }
