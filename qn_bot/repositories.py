"""The storage ports: narrow Protocols for the repositories of qn_bot.store, which the
service, the outbox worker and the digest depend on instead of the SQL classes.

Each repository is one concern (campaigns, participants, sessions and items, outbox…); a
transaction (:class:`Transaction`) exposes one of each as an attribute and commits them together.
Nothing here imports SQLAlchemy: the records are plain dataclasses (qn_bot.records).

The write Protocols (:class:`SessionWrites`, :class:`OutboxWrites`, :class:`MessageClaims`) are
what one message's handling writes; both a transaction's repositories and
:class:`qn_bot.store.batch.BatchWrites` (group commit's multi-row statements) implement them, so
one function turns engine events into rows for either.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from qn_bot.domain import Address, CampaignStatus, Moderation, OutboundMessage, UserRef
from qn_bot.identity import Signature
from qn_bot.records import (
    CampaignRecord,
    Conversation,
    IdleSession,
    IntervalCounts,
    ItemRecord,
    ItemToEmbed,
    ItemVector,
    KeptTheme,
    ModeratedItem,
    ModerationAct,
    OutboxRecord,
    ParticipantRecord,
    Participation,
    RevisionRecord,
    SessionRecord,
    Statement,
    StoredTheme,
    StoredVector,
    Vote,
    VoteColumns,
    VoteCounts,
)

#: Makes a participant's pseudonym (random: see qn_bot.store.rows.random_pseudonym).
PseudonymFactory = Callable[[], str]

#: The chats a worker can deliver to: platform -> its chat ids, or None for every chat of that
#: platform (a bot account reaches anyone; a console reaches only its own terminal). A bare
#: sequence of platform names means every chat of each.
Reach = Mapping[str, Collection[str] | None] | Sequence[str]

#: Who a campaign-wide message goes to: see :meth:`Audiences.enqueue_to_audience`.
Audience = Literal["invitees", "mid_flow"]


class MessageClaims(Protocol):
    """Claiming an inbound message's key, with the writes it caused."""

    async def claim_message(
        self, platform: str, message_id: str, now: datetime, participant_id: int | None = ...
    ) -> bool:
        """Record an inbound message id; False when it was already handled (a redelivery)."""
        ...


class SessionWrites(Protocol):
    """A session's new state and the items an answer added."""

    async def save_session(
        self,
        participant_id: int,
        campaign_id: int,
        state: dict[str, Any],
        now: datetime,
        *,
        status: str,
        step_id: str | None,
        session_id: int | None = ...,
    ) -> int:
        """Insert or update the session; returns its id."""
        ...

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
        source_message_id: str | None = ...,
    ) -> None: ...


class OutboxWrites(Protocol):
    """Queueing a message (sent once the transaction committed)."""

    async def enqueue(
        self,
        address: Address,
        message: OutboundMessage,
        now: datetime,
        *,
        participant_id: int | None = ...,
        dedupe_key: str | None = ...,
        forget_after_send: bool = ...,
        not_before: datetime | None = ...,
        mid_flow_session: int | None = ...,
    ) -> object:
        """Queue a message. What it returns is the writer's (see :meth:`Outbox.enqueue`).
        ``not_before``: a message deferred until then (outside its chat's order meanwhile);
        ``mid_flow_session``: a reminder about that session, cancelled instead of sent once the
        session is finished, its citizen said /stop or its campaign closed."""
        ...


class Idempotency(MessageClaims, Protocol):
    """Keys of handled inbound messages and of claimed scheduled jobs: a redelivery or a
    second claimant changes nothing."""

    async def attach_message(self, platform: str, message_id: str, participant_id: int) -> None: ...
    async def claim_job(self, key: str, owner: str, now: datetime) -> bool: ...
    async def already_claimed(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]: ...
    async def purge_message_keys(self, before: datetime, *, limit: int) -> int: ...


class Campaigns(Protocol):
    """Campaigns, their status and their schedule."""

    async def create_campaign(
        self,
        *,
        slug: str,
        title: str,
        flow_id: str,
        flow_version: int,
        flow_source: str,
        now: datetime,
        edition: str | None = ...,
        status: CampaignStatus = ...,
        opens_at: datetime | None = ...,
        closes_at: datetime | None = ...,
        min_respondents: int = ...,
        moderation: Moderation = ...,
    ) -> CampaignRecord: ...
    async def campaign_by_slug(self, slug: str) -> CampaignRecord | None: ...
    async def campaign_by_id(self, campaign_id: int) -> CampaignRecord | None: ...
    async def campaigns(self, *statuses: CampaignStatus) -> list[CampaignRecord]: ...
    async def set_campaign_status(
        self, campaign_id: int, status: CampaignStatus, now: datetime
    ) -> None: ...
    async def set_campaign_min_respondents(self, campaign_id: int, minimum: int) -> None: ...
    async def set_campaign_moderation(self, campaign_id: int, moderation: Moderation) -> None: ...
    async def compare_and_set_status(
        self, campaign_id: int, expected: CampaignStatus, status: CampaignStatus, now: datetime
    ) -> bool: ...
    async def campaigns_due(self, now: datetime) -> list[tuple[CampaignRecord, CampaignStatus]]: ...


class Participants(Protocol):
    """Citizens: their row, their signature, whether they can be reached, their erasure."""

    async def participant(
        self, user: UserRef, *, for_update: bool = ...
    ) -> ParticipantRecord | None: ...
    async def participant_by_id(self, participant_id: int) -> ParticipantRecord | None: ...
    async def create_participant(
        self,
        user: UserRef,
        reply_to: Address,
        now: datetime,
        *,
        language: str | None,
        pseudonym_factory: PseudonymFactory = ...,
    ) -> ParticipantRecord: ...
    async def update_participant(
        self, participant_id: int, now: datetime, **values: Any
    ) -> None: ...
    async def set_signature(
        self, participant_id: int, signature: Signature | None, now: datetime
    ) -> bool: ...
    async def reached_at(self, address: Address) -> list[ParticipantRecord]: ...
    async def mark_unreachable(self, address: Address, now: datetime) -> None: ...
    async def delete_participant(self, participant_id: int) -> None: ...
    async def participant_texts(self, participant_id: int) -> tuple[datetime | None, list[str]]: ...
    async def campaign_participants(
        self, campaign_id: int, *, consent_required: bool
    ) -> list[Participation]:
        """The participants of a campaign (qn_bot.participants defines them), one each."""
        ...

    async def section_respondents(
        self,
        campaign_id: int,
        windows: Mapping[str, int],
        *,
        consent_required: bool,
        since: datetime | None = ...,
        until: datetime | None = ...,
    ) -> dict[str, int]:
        """Per step id, the distinct participants among its first ``windows[step]`` live
        answers (given in [since, until) when bounded), for every step of ``windows``."""
        ...


class Audiences(Protocol):
    """Whom reminders and campaign-wide messages go to."""

    async def reminder_candidates(
        self,
        now: datetime,
        first_delay: timedelta,
        max_reminders: int,
        *,
        after_session_id: int = ...,
        limit: int | None = ...,
    ) -> list[IdleSession]: ...
    async def unfinished_sessions(
        self, campaign_id: int, *, after_session_id: int = ..., limit: int | None = ...
    ) -> list[IdleSession]: ...
    async def stopped_mid_flow(self, campaign_id: int) -> int: ...
    async def count_reminder(self, session_id: int, sent_before: int, at: datetime) -> bool: ...
    async def enqueue_to_audience(
        self,
        audience: Audience,
        campaign_id: int,
        messages: Mapping[str, OutboundMessage],
        now: datetime,
        *,
        dedupe_prefix: str,
        dedupe_suffix: str = ...,
    ) -> int: ...


class Sessions(SessionWrites, Protocol):
    """Where each citizen stands in a campaign, their answer items and every revision."""

    async def session(self, participant_id: int, campaign_id: int) -> SessionRecord | None: ...
    async def conversations(self, users: Sequence[UserRef]) -> dict[UserRef, Conversation]: ...
    async def record_consent(
        self, session_id: int, flow_version: int | None, now: datetime
    ) -> None: ...
    async def delete_session(self, session_id: int) -> None: ...
    async def revise_item(
        self, *, session_id: int, seq: int, revision: int, text: str, value: Any, now: datetime
    ) -> None: ...
    async def delete_item(self, *, session_id: int, seq: int, now: datetime) -> None: ...
    async def erase_item_texts(
        self, *, session_id: int, seqs: Collection[int]
    ) -> tuple[datetime | None, list[str]]: ...
    async def items_from_message(
        self, participant_id: int, message_id: str
    ) -> list[tuple[int, int, int]]: ...
    async def campaign_items(
        self, campaign_id: int, *, include_hidden: bool = ...
    ) -> list[ItemRecord]:
        """The campaign's live public items; ``include_hidden``: every live item, those that
        are not public marked ``hidden`` (the facilitator's exports, never a public output)."""
        ...

    async def campaign_revisions(
        self, campaign_id: int, *, include_hidden: bool = ...
    ) -> list[RevisionRecord]: ...
    async def participant_items(self, participant_id: int) -> list[dict[str, Any]]: ...
    async def participant_sessions(self, participant_id: int) -> list[dict[str, Any]]: ...
    async def campaign_stats(
        self, campaign_id: int, since_day: datetime, since_week: datetime
    ) -> dict[str, tuple[int, int, int]]: ...


class Outbox(OutboxWrites, Protocol):
    """Messages queued with the state that caused them, leased to a worker, then sent, retried
    or failed (the outbox worker's view of the database)."""

    async def enqueue(
        self,
        address: Address,
        message: OutboundMessage,
        now: datetime,
        *,
        participant_id: int | None = ...,
        dedupe_key: str | None = ...,
        forget_after_send: bool = ...,
        not_before: datetime | None = ...,
        mid_flow_session: int | None = ...,
    ) -> int | None: ...
    async def claim_outbox(
        self,
        now: datetime,
        *,
        limit: int,
        lease: timedelta,
        platforms: Reach,
        chat: Address | None = ...,
        skip_chats: Collection[Address] = ...,
        owner: str | None = ...,
    ) -> list[OutboxRecord]: ...
    async def outbox_take_due(
        self, now: datetime, *, platforms: Collection[str], limit: int
    ) -> list[OutboxRecord]:
        """Due, unleased messages of every chat of ``platforms``, each chat's unbroken run
        from its head, for delivery within this transaction (no lease)."""
        ...

    async def outbox_sent(
        self, outbox_ids: int | Collection[int], now: datetime, *, keep_payload: bool = ...
    ) -> None: ...
    async def outbox_retry(
        self, outbox_id: int, at: datetime, error: str, *, failed_attempt: bool = ...
    ) -> None: ...
    async def outbox_failed(
        self, outbox_id: int, error: str, *, keep_payload: bool = ...
    ) -> None: ...
    async def outbox_fail_chat(
        self, address: Address, error: str, *, keep_payload: bool = ...
    ) -> int: ...
    async def outbox_lease_owners(self, now: datetime, *, besides: str) -> list[str]: ...
    async def outbox_release_owner(self, owner: str) -> int: ...
    async def outbox_release_leases(self, platforms: Reach) -> None: ...
    async def outbox_states(
        self, dedupe_keys: Collection[str]
    ) -> dict[str, tuple[str, int, str | None]]: ...
    async def outbox_pending(self, platforms: Sequence[str] | None = ...) -> int: ...
    async def outbox_backlog(self, now: datetime) -> dict[str, tuple[int, datetime | None]]:
        """platform → (messages waiting, since when the oldest one waits); a message deferred
        until after ``now`` is not waiting yet."""
        ...

    async def next_outbox_due(
        self, platforms: Reach, *, skip_chats: Collection[Address] = ...
    ) -> datetime | None: ...
    async def outbox_progress(self, prefix: str) -> tuple[int, int]: ...
    async def messages_with_content(
        self, since: datetime, *, besides_participant: int | None = ...
    ) -> list[tuple[int, OutboundMessage]]: ...
    async def replace_message(self, outbox_id: int, message: OutboundMessage) -> None: ...
    async def purge_sent_payloads(self, before: datetime, *, limit: int) -> int: ...
    async def purge_outbox_rows(self, before: datetime, *, limit: int) -> int: ...


class Facilitators(Protocol):
    """Who may run facilitator commands, everywhere or for one campaign."""

    async def grant_facilitator(
        self, user: UserRef, granted_by: str, now: datetime, campaign_id: int | None = ...
    ) -> bool: ...
    async def revoke_facilitator(self, user: UserRef, campaign_id: int | None = ...) -> bool: ...
    async def facilitators(self) -> list[tuple[UserRef, str | None]]: ...
    async def is_facilitator(self, user: UserRef, campaign_id: int | None = ...) -> bool: ...


class KeyValues(Protocol):
    """Small durable values by key (adapter state)."""

    async def kv_get(self, key: str, *, for_update: bool = ...) -> Any: ...
    async def kv_set(
        self, key: str, value: Any, now: datetime, *, subject: str | None = ...
    ) -> None: ...
    async def kv_delete(self, key: str) -> None: ...
    async def purge_adapter_state(self, before: datetime) -> int: ...


class TranscriptRows(Protocol):
    """The kept conversations (qn_bot.ports.Transcripts), as the outbox keeps a platform's
    messages and the retention purge sees them."""

    async def append_many(self, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
        """Insert rows (subject, role, body, client_id, created_at); the ids given, by
        (subject, client_id); a (subject, client_id) already kept is skipped."""
        ...

    async def purge_transcripts(self, before: datetime) -> int: ...


class PeriodItems(Protocol):
    """A period's new live items of one campaign, ready to stream (again, on the same
    snapshot, if a reader failed half-way)."""

    @property
    def campaign_items(self) -> int:
        """Every item of the campaign, deleted ones included: how big the job is."""
        ...

    def partitions(self) -> AsyncGenerator[Sequence[tuple[Any, ...]], None]:
        """(step_id, text, participant_id, created_at as stored text, id) rows, in partitions;
        close it (``contextlib.aclosing``) when stopping early."""
        ...


class DigestReads(Protocol):
    """What a digest and its synthesis attachment read of a campaign's items, counted by the
    database: a campaign of a million items is never loaded."""

    async def interval_counts(
        self, campaign_id: int, boundaries: Sequence[datetime]
    ) -> IntervalCounts: ...
    async def period_items(self, campaign_id: int, start: datetime, end: datetime) -> PeriodItems:
        """The live items created in [start, end)."""
        ...

    async def latest_items(self, campaign_id: int, step_id: str, limit: int) -> list[ItemRecord]:
        """The ``limit`` last live items of a step (by insertion), in answer order."""
        ...

    async def step_items(self, campaign_id: int, step_ids: Sequence[str]) -> list[ItemRecord]:
        """Every live item of the given steps, in answer order."""
        ...


class ItemModeration(Protocol):
    """Which items are public (hidden, approved), citizens' flags, and the audit trail of every
    act (qn_bot.moderation). Public reads elsewhere filter on it at the query."""

    async def items(
        self, campaign_id: int, *, hidden_only: bool = ..., limit: int | None = ...
    ) -> list[ModeratedItem]:
        """The campaign's live items, newest first (``hidden_only``: those not public)."""
        ...

    async def items_by_id(self, item_ids: Collection[int]) -> dict[int, ModeratedItem]: ...
    async def next_to_moderate(self, campaign_id: int) -> ModeratedItem | None:
        """A flagged item not decided since (most flagged first), else the newest undecided."""
        ...

    async def decide(
        self, campaign_id: int, item_ids: Collection[int], act: str, actor: str, now: datetime
    ) -> None:
        """``act`` "hide" or "show" (approve) on items of the campaign, logged."""
        ...

    async def flag(
        self, campaign_id: int, item_id: int, participant_id: int, actor: str, now: datetime
    ) -> bool:
        """False when this citizen had already flagged the item."""
        ...

    async def acts(self, campaign_id: int, *, limit: int | None = ...) -> list[ModerationAct]: ...
    async def not_public(self, campaign_id: int) -> set[int]: ...


class VoteWrites(Protocol):
    """Recording a citizen's vote on a statement (a transaction's votes repository and group
    commit's batch both take it)."""

    async def record_vote(
        self, *, participant_id: int, item_id: int, campaign_id: int, value: Vote, now: datetime
    ) -> None:
        """One vote per citizen and item: a second vote replaces the first unless it is older
        (``now`` earlier than the stored one's), so a replayed event never undoes a change of
        mind. A redelivered message is caught before, by its key (:class:`MessageClaims`)."""
        ...


class VoteRepository(VoteWrites, Protocol):
    """Peer votes on statements (issue 15), and the last opinion groups of each campaign."""

    async def public_statements(
        self, campaign_id: int, step_ids: Collection[str]
    ) -> list[Statement]:
        """The statements of a campaign that may be shown and voted on: its live items of the
        given steps (free-text steps), oldest first. The one read of statements: every public
        output of votes goes through it."""
        ...

    async def has_votes(self, campaign_id: int) -> bool:
        """Whether anyone voted in the campaign (outputs skip the opinion map otherwise)."""
        ...

    async def voted_items(self, participant_id: int, campaign_id: int) -> set[int]:
        """The items this citizen voted on in this campaign (never the same card twice)."""
        ...

    async def voted_items_of(
        self, participant_ids: Collection[int]
    ) -> dict[tuple[int, int], set[int]]:
        """:meth:`voted_items` of many citizens in one read, by (participant, campaign)
        (group commit reads a batch's voters at once)."""
        ...

    async def participant_votes(self, participant_id: int, campaign_id: int) -> dict[int, Vote]:
        """This citizen's votes in this campaign, by item id (for where they stand: /bilan)."""
        ...

    async def vote_counts(
        self, campaign_id: int, step_ids: Collection[str]
    ) -> dict[int, VoteCounts]:
        """Per statement (as :meth:`public_statements` has them) with votes, its votes."""
        ...

    async def vote_columns(self, campaign_id: int) -> VoteColumns:
        """Every vote of the campaign as columns, fast for hundreds of thousands. Raw: votes on
        items that are no statement (any more) are in it; keep only the ids of
        :meth:`public_statements`."""
        ...

    async def last_groups(self, campaign_id: int) -> dict[int, int]:
        """The last computed groups: participant id -> group id (erased citizens gone)."""
        ...

    async def save_groups(self, campaign_id: int, groups: Mapping[int, int]) -> None:
        """Replace the campaign's groups (participant id -> group id)."""
        ...


class ItemVectors(Protocol):
    """Stored sentence embeddings of items (themes by meaning, qn_bot.themes)."""

    async def to_embed(
        self, campaign_id: int, step_ids: Collection[str], model: str, limit: int
    ) -> list[ItemToEmbed]:
        """Live items of these steps without a vector of ``model`` for their current text."""
        ...

    async def save_vectors(self, vectors: Sequence[ItemVector]) -> None:
        """Store vectors; one computed from a revision that is no longer the item's is skipped."""
        ...

    async def drop_deleted_vectors(self) -> int:
        """Delete the vectors of deleted items; how many."""
        ...

    async def count_vectors(
        self, campaign_id: int, step_id: str, model: str, since: datetime, until: datetime
    ) -> int:
        """How many of the step's live items created in [since, until) are embedded."""
        ...

    async def campaign_vectors(self, campaign_id: int, model: str) -> dict[int, bytes]:
        """Item id → current vector, for the campaign's live items (hidden ones too)."""
        ...

    async def step_vectors(
        self,
        campaign_id: int,
        step_id: str,
        model: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[StoredVector]:
        """The step's live public items, with their current vector (None: not embedded yet),
        created in [since, until) when given."""
        ...


class ThemeHistory(Protocol):
    """Each completed week's themes of a step, kept with their identity (issue 14 §4)."""

    async def kept_weeks(
        self,
        campaign_id: int,
        step_ids: Collection[str],
        model: str,
        since: datetime,
        until: datetime,
    ) -> list[StoredTheme]:
        """The kept themes of the weeks within [since, until] of these steps and ``model``,
        by step, week and rank."""
        ...

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
        """Keep a week's themes (most items first); None, and nothing written, when that week
        was kept already (by another process)."""
        ...

    async def label_people(self, theme_ids: Collection[int]) -> dict[int, int]:
        """Per kept theme, the distinct citizens among its label's items that are still live,
        public and unchanged (0 when none is)."""
        ...

    async def relabel(self, theme_id: int, label: str, holders: Sequence[int]) -> None:
        """Replace a kept theme's label and the items whose words make it."""
        ...

    async def drop_stale_labels(self, people: int) -> int:
        """Blank (and mark stale) every kept label that fewer than ``people`` citizens' live,
        unchanged items still hold; how many."""
        ...


class Transaction(Protocol):
    """One open transaction: its repositories commit together or not at all."""

    @property
    def idempotency(self) -> Idempotency: ...
    @property
    def campaigns(self) -> Campaigns: ...
    @property
    def participants(self) -> Participants: ...
    @property
    def audiences(self) -> Audiences: ...
    @property
    def sessions(self) -> Sessions: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def facilitators(self) -> Facilitators: ...
    @property
    def kv(self) -> KeyValues: ...
    @property
    def transcripts(self) -> TranscriptRows: ...
    @property
    def digest(self) -> DigestReads: ...
    @property
    def moderation(self) -> ItemModeration: ...
    @property
    def votes(self) -> VoteRepository: ...
    @property
    def vectors(self) -> ItemVectors: ...
    @property
    def theme_history(self) -> ThemeHistory: ...


class Database(Protocol):
    """Where transactions come from."""

    @property
    def dialect(self) -> str: ...

    def transaction(self, *, urgent: bool = ...) -> AbstractAsyncContextManager[Transaction]:
        """A read-write transaction (``urgent``: a tiny write everything else waits for)."""
        ...

    def snapshot(self) -> AbstractAsyncContextManager[Transaction]:
        """A transaction that only reads, and does not hold up writers."""
        ...


class CompactedDatabase(Database, Protocol):
    """A database that can give the space of purged rows back (retention, qn_bot.retention)."""

    async def release_free_pages(self) -> int:
        """Hand free pages back to the file system; how many (0 where the server does it)."""
        ...

    def scrub(self) -> None:
        """Soon drop what was deleted from the database's journal too (SQLite's WAL)."""
        ...
