"""Plain records the store hands out: no ORM objects escape the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qn_bot.domain import Address, CampaignStatus, OutboundMessage, UserRef


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    id: int
    slug: str
    title: str
    edition: str | None
    flow_id: str
    flow_version: int
    flow_source: str
    status: CampaignStatus
    opens_at: datetime | None
    closes_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ParticipantRecord:
    id: int
    user: UserRef
    pseudonym: str
    language: str | None
    reply_to: Address
    active_campaign_id: int | None
    pending_action: str | None
    stopped: bool
    unreachable: bool
    created_at: datetime
    timezone: str | None = None
    signature: str | None = None
    pending_since: datetime | None = None  # when ``pending_action`` was asked


@dataclass(frozen=True, slots=True)
class Conversation:
    """Where a citizen stands: the little group commit's batched path reads about them.

    The session and campaign fields are None when the citizen has no active session."""

    participant_id: int
    reply_to: Address
    pending_action: str | None
    session_id: int | None
    campaign_id: int | None
    state: dict[str, Any] | None
    campaign_status: CampaignStatus | None
    flow_version: int | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    participant_id: int
    campaign_id: int
    state: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """One answer item, latest revision, as exports see it."""

    id: int
    campaign_slug: str
    pseudonym: str
    step_id: str
    seq: int
    text: str
    value: Any
    revision: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RevisionRecord:
    item_id: int
    revision: int
    text: str
    deleted: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: int
    address: Address
    message: OutboundMessage
    attempts: int
    participant_id: int | None
