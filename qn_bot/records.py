"""Plain records the store hands out: no ORM objects escape the store. They live outside
qn_bot.store so that the repository Protocols (qn_bot.repositories) can name them without
importing SQLAlchemy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from qn_bot.domain import Address, CampaignStatus, Moderation, OutboundMessage, UserRef


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
    min_respondents: int = 5  # the campaign's anonymity threshold (qn_bot.disclosure)
    moderation: Moderation = Moderation.POST  # when its items are public (qn_bot.moderation)


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
class IdleSession:
    """An unfinished session, as reminders read it."""

    participant: ParticipantRecord
    session_id: int
    campaign_id: int
    sent: int  # reminders since the citizen last wrote
    last_input: datetime | None  # None: the citizen has not written since the session began
    last_reminded: datetime | None  # when the last reminder went, or will go


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
    unreachable: bool = False  # the general path clears it: the citizen is writing to us
    # The participant machine's state (qn_bot.conversation), beside pending_action.
    pending_since: datetime | None = None
    stopped: bool = False
    language: str | None = None
    active_campaign_id: int | None = None


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
    """One answer item, latest revision, as exports see it. Group by ``participant_id``: the
    pseudonym and the signature are what a page shows, not who someone is."""

    id: int
    campaign_slug: str
    participant_id: int
    pseudonym: str
    step_id: str
    seq: int
    text: str
    value: Any
    revision: int
    created_at: datetime
    updated_at: datetime
    signature: str | None = None  # the participant's /signer name, shown beside the text
    hidden: bool = False  # kept out of public outputs by moderation (facilitator exports only)

    @property
    def shown_as(self) -> str:
        """How exports name the participant: their signature if they signed, else pseudonym."""
        return self.signature if self.signature is not None else self.pseudonym


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


@dataclass(frozen=True, slots=True)
class Participation:
    """One participant of one campaign (see qn_bot.participants). ``participant`` is an opaque
    key, never shown."""

    participant: int
    created_at: datetime  # when their session of the campaign began
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class IntervalCounts:
    """Live items of a campaign per step and per interval between sorted ``boundaries``:
    interval k is [boundaries[k], boundaries[k+1]), -1 before the first boundary, the last
    index after the last one."""

    boundaries: tuple[datetime, ...]
    counts: Mapping[tuple[str, int], int]  # (step, k) → live items; absent when none
    updated_at: datetime | None  # the latest update of a live item


@dataclass(frozen=True, slots=True)
class ModeratedItem:
    """An item as moderation sees it: its words, where it was given, what was decided."""

    id: int
    campaign_id: int
    participant_id: int
    step_id: str
    text: str
    created_at: datetime
    state: str | None  # "hidden", "shown" (approved), None: undecided
    flags: int  # how many citizens flagged it
    public: bool  # what public outputs do with it, given the campaign's moderation mode


@dataclass(frozen=True, slots=True)
class ModerationAct:
    """One line of the audit trail: who (a pseudonym or "cli"), when, what, which item."""

    item_id: int
    action: str  # "hide" | "show" | "flag"
    actor: str
    at: datetime


# --- opinions (peer votes, qn_bot.opinions) ---


class Vote(IntEnum):
    """A citizen's vote on a statement, as stored."""

    AGREE = 1
    DISAGREE = -1
    PASS = 0


@dataclass(frozen=True, slots=True)
class VoteCounts:
    """How a statement was voted on."""

    agree: int
    disagree: int
    passed: int

    @property
    def total(self) -> int:
        return self.agree + self.disagree + self.passed


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement citizens vote on: a live item one of them gave."""

    item_id: int
    participant_id: int  # its author: never shown their own statement as a card
    step_id: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VoteColumns:
    """Every vote of a campaign as three parallel columns (not one object per vote: the opinion
    map reads hundreds of thousands at once)."""

    participant_ids: Sequence[int]
    item_ids: Sequence[int]
    values: Sequence[int]

    def __len__(self) -> int:
        return len(self.values)


# --- themes (qn_bot.themes, qn_bot/store/vectors.py) ---


@dataclass(frozen=True, slots=True)
class ItemToEmbed:
    item_id: int
    campaign_id: int
    step_id: str
    revision: int
    text: str


@dataclass(frozen=True, slots=True)
class ItemVector:
    item_id: int
    campaign_id: int
    step_id: str
    revision: int  # the item's revision the text was taken from
    model: str
    vector: bytes  # int8 components


@dataclass(frozen=True, slots=True)
class StoredVector:
    item_id: int
    participant: str  # the author's pseudonym (never a platform id)
    text: str
    vector: bytes | None  # None: not embedded yet


# --- kept weekly themes (qn_bot.themes.history, qn_bot/store/theme_history.py) ---


@dataclass(frozen=True, slots=True)
class KeptTheme:
    """One theme of a week, to keep."""

    label: str  # words several citizens used; "" for none
    count: int  # items
    people: int  # distinct citizens
    centroid: bytes  # int8, in the model's space
    holders: tuple[int, ...]  # items whose words make the label, one per citizen
    identity: int | None  # the theme it goes on as; None: a new theme, its own row names it
    parents: tuple[int, ...]  # identities of the previous week's themes it matched


@dataclass(frozen=True, slots=True)
class StoredTheme:
    """One kept theme of a week."""

    id: int
    step_id: str
    start: datetime
    end: datetime
    rank: int
    identity: int
    parents: tuple[int, ...]
    label: str
    count: int
    people: int
    centroid: bytes
    stale: bool = False  # its label was blanked when its citizens' words went: make it again
