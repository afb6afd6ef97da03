"""The SQL store: every read and write of qn-bot's database, on SQLite or PostgreSQL.

Work happens inside ``async with store.transaction() as tx``: everything done through ``tx``
commits together or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    Subquery,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import BindParameter

from qn_bot.domain import Address, CampaignStatus, OutboundMessage, UserRef
from qn_bot.errors import CampaignError
from qn_bot.identity import Signature
from qn_bot.store import schema as t
from qn_bot.store.database import READ_ONLY, create_engine, database_errors
from qn_bot.store.records import (
    CampaignRecord,
    Conversation,
    ItemRecord,
    OutboxRecord,
    ParticipantRecord,
    RevisionRecord,
    SessionRecord,
)
from qn_bot.store.writer_queue import WriterQueue

log = logging.getLogger(__name__)

PseudonymFactory = Callable[[], str]

#: After a write that erased something, the WAL is checkpointed and truncated at once and again
#: after these delays (s): what the erasure let other parts rewrite shortly after (an adapter's
#: receive journal, the goodbye once sent) leaves the file too.
SCRUB_DELAYS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
#: A checkpoint waits this long (ms) for readers to move on, then is tried again later.
CHECKPOINT_BUSY_MS = 250
#: Free pages handed back to the file system per transaction (4 KiB each).
VACUUM_PAGES = 2000


def message_key(message_id: str) -> str:
    """What is stored of a platform message id: a digest. Telegram's ids embed the chat id, the
    user id in a private chat, and a key may outlive its sender (/oublier keeps the key of its
    own confirmation so that a redelivery stays a no-op): the key must name no one."""
    return hashlib.blake2b(message_id.encode(), digest_size=16).hexdigest()


def random_pseudonym() -> str:
    """Random, not derived from the platform id: a hash of an id can be reversed by brute force."""
    return "P-" + secrets.token_hex(4).upper()


def _campaign(row: Row[Any]) -> CampaignRecord:
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
    )


def _participant(row: Row[Any]) -> ParticipantRecord:
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


#: The chats a worker can deliver to: platform -> its chat ids, or None for every chat of that
#: platform (a bot account reaches anyone; a console reaches only its own terminal). A bare
#: sequence of platform names means every chat of each.
Reach = Mapping[str, Collection[str] | None] | Sequence[str]


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


def _free_texts(rows: Iterable[Row[Any, Any, Any]]) -> list[str]:
    """The distinct non-empty texts of rows (text, value) that are free text (no value)."""
    return sorted({r.text for r in rows if r.value is None and r.text})


_CAMPAIGN_STATUS = {status.value: status for status in CampaignStatus}

#: An outbox row waits to be sent — 'pending' written out, not bound: planners use the partial
#: index ix_outbox_pending_heads only when they can see that the query asks for what it holds.
PENDING = t.outbox.c.status == literal_column("'pending'")

#: Who a campaign-wide message goes to: see :meth:`Tx.enqueue_to_audience`.
Audience = Literal["invitees", "mid_flow"]


def _by_platform(keys: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(platform, id) pairs grouped by platform, platforms sorted: one ``IN`` list each, which
    costs a fraction of a row-value ``IN`` of pairs to build and bind."""
    grouped: dict[str, list[str]] = {}
    for platform, key in keys:
        grouped.setdefault(platform, []).append(key)
    return sorted(grouped.items())


def _chat_heads(
    platforms: Reach, chat: Address | None, skip_chats: Collection[Address]
) -> Subquery:
    """The id of each reachable chat's oldest pending message (its head), as a subquery."""
    o = t.outbox
    pending = [PENDING, _reachable(platforms)]
    if chat is not None:
        pending += [o.c.platform == chat.platform, o.c.chat_id == chat.chat_id]
    for n, (platform, chat_ids) in enumerate(
        _by_platform((a.platform, a.chat_id) for a in skip_chats)
    ):
        # One expanding parameter: hundreds of ids as literals were hundreds of expression
        # objects to build and to hash at every claim.
        skipped: BindParameter[str] = bindparam(f"skip_{n}", chat_ids, expanding=True)
        pending.append(~and_(o.c.platform == platform, o.c.chat_id.in_(skipped)))
    return (
        select(func.min(o.c.id).label("id"))
        .where(*pending)
        .group_by(o.c.platform, o.c.chat_id)
        .subquery()
    )


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
) -> dict[str, Any]:
    """A message to send as a row of ``outbox``, due now."""
    return {
        "forget_after_send": forget_after_send,
        "platform": address.platform,
        "chat_id": address.chat_id,
        "participant_id": participant_id,
        "payload": message.to_json(),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "dedupe_key": dedupe_key,
    }


class Tx:
    """One open transaction. Obtain it from :meth:`Store.transaction`."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        #: Set by writes that erase personal data: the store then scrubs the journal of the
        #: database (SQLite's WAL) once the transaction committed.
        self.erased = False

    def _insert(self, table: Table) -> Any:
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        if self.dialect == "sqlite":
            return sqlite.insert(table)
        return insert(table)

    # ------------------------------------------------------------------ idempotency

    async def claim_message(
        self, platform: str, message_id: str, now: datetime, participant_id: int | None = None
    ) -> bool:
        """Record an inbound message id; False when it was already handled (a redelivery)."""
        stmt = (
            self._insert(t.processed_messages)
            .values(
                platform=platform,
                message_id=message_key(message_id),
                processed_at=now,
                participant_id=participant_id,
            )
            .on_conflict_do_nothing()
        )
        result = await self.conn.execute(stmt)
        return bool(result.rowcount == 1)

    async def attach_message(self, platform: str, message_id: str, participant_id: int) -> None:
        """Tie a claimed message key to its sender (erased with them by /oublier)."""
        await self.conn.execute(
            update(t.processed_messages)
            .where(
                t.processed_messages.c.platform == platform,
                t.processed_messages.c.message_id == message_key(message_id),
            )
            .values(participant_id=participant_id)
        )

    async def claim_job(self, key: str, owner: str, now: datetime) -> bool:
        """Exactly-once scheduled work: only the first claimant of ``key`` gets True."""
        stmt = (
            self._insert(t.job_runs)
            .values(key=key, claimed_by=owner, claimed_at=now)
            .on_conflict_do_nothing()
        )
        result = await self.conn.execute(stmt)
        return bool(result.rowcount == 1)

    # ------------------------------------------------------------------ campaigns

    async def create_campaign(
        self,
        *,
        slug: str,
        title: str,
        flow_id: str,
        flow_version: int,
        flow_source: str,
        now: datetime,
        edition: str | None = None,
        status: CampaignStatus = CampaignStatus.DRAFT,
        opens_at: datetime | None = None,
        closes_at: datetime | None = None,
        min_respondents: int = 5,
    ) -> CampaignRecord:
        if await self.campaign_by_slug(slug) is not None:
            raise CampaignError(f"a campaign named {slug!r} already exists")
        await self.conn.execute(
            insert(t.campaigns).values(
                slug=slug,
                title=title,
                edition=edition,
                flow_id=flow_id,
                flow_version=flow_version,
                flow_source=flow_source,
                status=status.value,
                opens_at=opens_at,
                closes_at=closes_at,
                created_at=now,
                updated_at=now,
                min_respondents=min_respondents,
            )
        )
        created = await self.campaign_by_slug(slug)
        assert created is not None
        return created

    async def campaign_by_slug(self, slug: str) -> CampaignRecord | None:
        row = (
            await self.conn.execute(select(t.campaigns).where(t.campaigns.c.slug == slug))
        ).first()
        return None if row is None else _campaign(row)

    async def campaign_by_id(self, campaign_id: int) -> CampaignRecord | None:
        row = (
            await self.conn.execute(select(t.campaigns).where(t.campaigns.c.id == campaign_id))
        ).first()
        return None if row is None else _campaign(row)

    async def campaigns(self, *statuses: CampaignStatus) -> list[CampaignRecord]:
        stmt = select(t.campaigns).order_by(t.campaigns.c.created_at, t.campaigns.c.id)
        if statuses:
            stmt = stmt.where(t.campaigns.c.status.in_([s.value for s in statuses]))
        return [_campaign(r) for r in (await self.conn.execute(stmt)).all()]

    async def set_campaign_status(
        self, campaign_id: int, status: CampaignStatus, now: datetime
    ) -> None:
        await self.conn.execute(
            update(t.campaigns)
            .where(t.campaigns.c.id == campaign_id)
            .values(status=status.value, updated_at=now)
        )

    async def set_campaign_min_respondents(self, campaign_id: int, minimum: int) -> None:
        # updated_at stays: it dates the campaign's content (an empty synthesis shows it).
        await self.conn.execute(
            update(t.campaigns)
            .where(t.campaigns.c.id == campaign_id)
            .values(min_respondents=minimum)
        )

    async def compare_and_set_status(
        self, campaign_id: int, expected: CampaignStatus, status: CampaignStatus, now: datetime
    ) -> bool:
        """Move a campaign only if it is still ``expected``: of two processes, one wins."""
        result = await self.conn.execute(
            update(t.campaigns)
            .where(t.campaigns.c.id == campaign_id, t.campaigns.c.status == expected.value)
            .values(status=status.value, updated_at=now)
        )
        return bool(result.rowcount == 1)

    async def campaigns_due(self, now: datetime) -> list[tuple[CampaignRecord, CampaignStatus]]:
        """Campaigns whose opens_at / closes_at has come, with the status they should take."""
        c = t.campaigns.c
        stmt = select(t.campaigns).where(
            or_(
                and_(c.status == CampaignStatus.DRAFT.value, c.opens_at <= now),
                and_(
                    c.status.in_([CampaignStatus.DRAFT.value, CampaignStatus.OPEN.value]),
                    c.closes_at <= now,
                ),
            )
        )
        due: list[tuple[CampaignRecord, CampaignStatus]] = []
        for row in (await self.conn.execute(stmt)).all():
            campaign = _campaign(row)
            closing = campaign.closes_at is not None and campaign.closes_at <= now
            due.append((campaign, CampaignStatus.CLOSED if closing else CampaignStatus.OPEN))
        return due

    # ------------------------------------------------------------------ participants

    async def participant(
        self, user: UserRef, *, for_update: bool = False
    ) -> ParticipantRecord | None:
        """``for_update`` locks the row until commit (PostgreSQL; SQLite's BEGIN IMMEDIATE
        already serialises writers): two processes never interleave one citizen's messages."""
        stmt = select(t.participants).where(
            t.participants.c.platform == user.platform,
            t.participants.c.platform_user_id == user.user_id,
        )
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return None if row is None else _participant(row)

    async def participant_by_id(self, participant_id: int) -> ParticipantRecord | None:
        row = (
            await self.conn.execute(
                select(t.participants).where(t.participants.c.id == participant_id)
            )
        ).first()
        return None if row is None else _participant(row)

    async def create_participant(
        self,
        user: UserRef,
        reply_to: Address,
        now: datetime,
        *,
        language: str | None,
        pseudonym_factory: PseudonymFactory = random_pseudonym,
    ) -> ParticipantRecord:
        for _ in range(20):
            pseudonym = pseudonym_factory()
            taken = (
                await self.conn.execute(
                    select(t.participants.c.id).where(t.participants.c.pseudonym == pseudonym)
                )
            ).first()
            if taken is None:
                break
        else:
            raise RuntimeError("could not find a free pseudonym")  # a bug in the factory
        await self.conn.execute(
            insert(t.participants).values(
                platform=user.platform,
                platform_user_id=user.user_id,
                pseudonym=pseudonym,
                language=language,
                reply_chat_id=reply_to.chat_id,
                stopped=False,
                unreachable=False,
                created_at=now,
                updated_at=now,
            )
        )
        created = await self.participant(user)
        assert created is not None
        return created

    async def update_participant(self, participant_id: int, now: datetime, **values: Any) -> None:
        # The signature has a method of its own: its key must stay unique (set_signature).
        allowed = {
            "timezone",
            "language",
            "reply_chat_id",
            "active_campaign_id",
            "pending_action",
            "stopped",
            "unreachable",
        }
        unknown = set(values) - allowed
        if unknown:
            raise TypeError(f"not participant columns: {sorted(unknown)}")
        if "pending_action" in values:
            # A pending question dates from now: messages that arrived before cannot answer it.
            values["pending_since"] = None if values["pending_action"] is None else now
        await self.conn.execute(
            update(t.participants)
            .where(t.participants.c.id == participant_id)
            .values(updated_at=now, **values)
        )

    async def set_signature(
        self, participant_id: int, signature: Signature | None, now: datetime
    ) -> bool:
        """Sign with ``signature`` (None: anonymous again); False when another participant has
        that name. The unique index decides, not a read before the write: of two citizens
        signing one name at once, the second waits for the first and is refused. The savepoint
        keeps a refusal from aborting the caller's transaction (PostgreSQL would)."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(
                    update(t.participants)
                    .where(t.participants.c.id == participant_id)
                    .values(
                        signature=None if signature is None else signature.text,
                        signature_key=None if signature is None else signature.key,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def reached_at(self, address: Address) -> list[ParticipantRecord]:
        """The citizens whose private chat with the bot is ``address`` (and who can be reached
        there): whom a chat that stops being private concerns."""
        stmt = (
            select(t.participants)
            .where(
                t.participants.c.platform == address.platform,
                t.participants.c.reply_chat_id == address.chat_id,
                t.participants.c.unreachable.is_(False),
            )
            .order_by(t.participants.c.id)
        )
        return [_participant(row) for row in (await self.conn.execute(stmt)).all()]

    async def mark_unreachable(self, address: Address, now: datetime) -> None:
        await self.conn.execute(
            update(t.participants)
            .where(
                t.participants.c.platform == address.platform,
                t.participants.c.reply_chat_id == address.chat_id,
            )
            .values(unreachable=True, updated_at=now)
        )

    async def delete_participant(self, participant_id: int) -> None:
        """Erase a participant and everything about them (the right to be forgotten): their
        answers and history, the keys of their messages, the messages they were sent (what
        waits is dropped; what went out keeps no chat id, no content, only the dedupe key that
        makes a send exactly-once), adapter state about them, their facilitator grants."""
        person = await self.participant_by_id(participant_id)
        if person is None:
            return
        o = t.outbox.c
        item_ids = select(t.items.c.id).where(t.items.c.participant_id == participant_id)
        await self.conn.execute(
            delete(t.item_revisions).where(t.item_revisions.c.item_id.in_(item_ids))
        )
        await self.conn.execute(delete(t.items).where(t.items.c.participant_id == participant_id))
        await self.conn.execute(
            delete(t.sessions).where(t.sessions.c.participant_id == participant_id)
        )
        await self.conn.execute(
            delete(t.processed_messages).where(
                t.processed_messages.c.participant_id == participant_id
            )
        )
        chat = person.reply_to
        theirs = or_(
            o.participant_id == participant_id,
            and_(o.platform == chat.platform, o.chat_id == chat.chat_id),
        )
        await self.conn.execute(
            delete(t.outbox).where(theirs, or_(PENDING, o.dedupe_key.is_(None)))
        )
        await self.conn.execute(
            update(t.outbox)
            .where(theirs)
            .values(participant_id=None, chat_id="", payload=null(), last_error=None)
        )
        await self.conn.execute(
            delete(t.kv).where(t.kv.c.subject.in_([str(person.user), str(chat)]))
        )
        f = t.facilitators.c
        await self.conn.execute(
            delete(t.facilitators).where(
                f.platform == person.user.platform, f.user_id == person.user.user_id
            )
        )
        await self.conn.execute(
            update(t.facilitators).where(f.granted_by == str(person.user)).values(granted_by="")
        )
        await self.conn.execute(delete(t.participants).where(t.participants.c.id == participant_id))
        self.erased = True

    async def participant_texts(self, participant_id: int) -> tuple[datetime | None, list[str]]:
        """When the participant first answered, and every text they wrote (each revision of
        each free-text answer; choices and numbers are labels, not their words)."""
        i, r = t.items.c, t.item_revisions.c
        rows = (
            await self.conn.execute(
                select(i.created_at, r.text, r.value)
                .join(t.item_revisions, r.item_id == i.id)
                .where(i.participant_id == participant_id)
            )
        ).all()
        since = min((row.created_at for row in rows), default=None)
        return since, _free_texts(rows)

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
        self.erased = True

    async def mid_flow(
        self, campaign_id: int, *, after_participant_id: int = 0, limit: int | None = None
    ) -> list[ParticipantRecord]:
        """Citizens with an unfinished session in this campaign who still accept messages, by
        id: ``after_participant_id`` and ``limit`` read them one page at a time."""
        stmt = (
            select(t.participants)
            .join(t.sessions, t.sessions.c.participant_id == t.participants.c.id)
            .where(
                t.sessions.c.campaign_id == campaign_id,
                t.sessions.c.status == "active",
                t.participants.c.stopped.is_(False),
                t.participants.c.unreachable.is_(False),
                t.participants.c.id > after_participant_id,
            )
            .order_by(t.participants.c.id)
            .limit(limit)
        )
        return [_participant(r) for r in (await self.conn.execute(stmt)).all()]

    async def reminder_candidates(
        self,
        now: datetime,
        first_delay: timedelta,
        max_reminders: int,
        *,
        after_session_id: int = 0,
        limit: int | None = None,
    ) -> list[tuple[ParticipantRecord, int, int, int, datetime]]:
        """(participant, session id, campaign id, reminders sent, last input) of idle sessions,
        by session id: ``after_session_id`` and ``limit`` read them one page at a time."""
        s = t.sessions.c
        stmt = (
            select(
                t.participants,
                s.id.label("session_id"),
                s.campaign_id,
                s.reminders_sent,
                s.last_input_at,
            )
            .join(t.sessions, s.participant_id == t.participants.c.id)
            .join(t.campaigns, t.campaigns.c.id == s.campaign_id)
            .where(
                s.status == "active",
                s.reminders_sent < max_reminders,
                s.last_input_at <= now - first_delay,
                t.campaigns.c.status == CampaignStatus.OPEN.value,
                t.participants.c.stopped.is_(False),
                t.participants.c.unreachable.is_(False),
                # A citizen who moved to another campaign is not reminded of this one.
                t.participants.c.active_campaign_id == s.campaign_id,
                s.id > after_session_id,
            )
            .order_by(s.id)
            .limit(limit)
        )
        rows = (await self.conn.execute(stmt)).all()
        return [
            (
                _participant(r),
                r.session_id,
                r.campaign_id,
                r.reminders_sent,
                t.UTCDateTime().process_result_value(r.last_input_at, self.conn.dialect) or now,
            )
            for r in rows
        ]

    async def count_reminder(self, session_id: int, sent_before: int) -> bool:
        """Count one more reminder, only if nobody counted it meanwhile."""
        result = await self.conn.execute(
            update(t.sessions)
            .where(t.sessions.c.id == session_id, t.sessions.c.reminders_sent == sent_before)
            .values(reminders_sent=sent_before + 1)
        )
        return bool(result.rowcount == 1)

    async def enqueue_to_audience(
        self,
        audience: Audience,
        campaign_id: int,
        messages: Mapping[str, OutboundMessage],
        now: datetime,
        *,
        dedupe_prefix: str,
        dedupe_suffix: str = "",
    ) -> int:
        """Queue a message to each reachable citizen of ``audience`` (who did not /stop), in
        their language (the first of ``messages`` for citizens without one):

        - ``"invitees"``: citizens who consented in an earlier campaign and have not joined
          this one;
        - ``"mid_flow"``: citizens with an unfinished session in this campaign.

        Keyed ``<dedupe_prefix><participant id><dedupe_suffix>``: a second run queues only who
        was missed. Returns how many were queued. One INSERT … SELECT per language: 10,000 rows
        queued one by one held SQLite's writer for 5–12 s, answers waiting behind it."""
        p, s, o = t.participants, t.sessions, t.outbox
        if audience == "invitees":
            consented = select(s.c.participant_id).where(
                s.c.consent_version.is_not(None), s.c.campaign_id != campaign_id
            )
            joined = select(s.c.participant_id).where(s.c.campaign_id == campaign_id)
            members = [p.c.id.in_(consented), p.c.id.not_in(joined)]
        else:
            unfinished = select(s.c.participant_id).where(
                s.c.campaign_id == campaign_id, s.c.status == "active"
            )
            members = [p.c.id.in_(unfinished)]
        audience_where = [*members, p.c.stopped.is_(False), p.c.unreachable.is_(False)]
        languages = list(messages)
        queued = 0
        for n, (language, message) in enumerate(messages.items()):
            speaks = p.c.language == language
            if n == 0:
                speaks = or_(speaks, p.c.language.is_(None), p.c.language.not_in(languages))
            rows = select(
                p.c.platform,
                p.c.reply_chat_id,
                p.c.id,
                literal(message.to_json(), o.c.payload.type),
                literal("pending"),
                literal(0),
                literal(now, o.c.next_attempt_at.type),
                literal(now, o.c.created_at.type),
                literal(dedupe_prefix) + cast(p.c.id, String) + literal(dedupe_suffix),
            ).where(*audience_where, speaks)
            columns = [
                "platform",
                "chat_id",
                "participant_id",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
                "dedupe_key",
            ]
            stmt = self._insert(o).from_select(columns, rows).on_conflict_do_nothing()
            queued += (await self.conn.execute(stmt)).rowcount
        return queued

    async def outbox_progress(self, prefix: str) -> tuple[int, int]:
        """(sent or failed, total) of the outbox rows whose dedupe key starts with ``prefix``."""
        o = t.outbox.c
        like = prefix.replace("%", r"\%").replace("_", r"\_") + "%"
        stmt = select(func.count(), func.count().filter(o.status != "pending")).where(
            o.dedupe_key.like(like, escape="\\")
        )
        total, done = (await self.conn.execute(stmt)).one()
        return int(done), int(total)

    async def campaign_stats(
        self, campaign_id: int, since_day: datetime, since_week: datetime
    ) -> dict[str, tuple[int, int, int]]:
        """Live items per step for /stats: in all, today, this week. (Its participants are
        counted by qn_bot.participants, as everywhere else.)"""
        i = t.items.c
        per_step = (
            await self.conn.execute(
                select(
                    i.step_id,
                    func.count(),
                    func.count().filter(i.created_at >= since_day),
                    func.count().filter(i.created_at >= since_week),
                )
                .where(i.campaign_id == campaign_id, i.deleted_at.is_(None))
                .group_by(i.step_id)
            )
        ).all()
        return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in per_step}

    # ------------------------------------------------------------------ sessions and items

    async def session(self, participant_id: int, campaign_id: int) -> SessionRecord | None:
        row = (
            await self.conn.execute(
                select(t.sessions).where(
                    t.sessions.c.participant_id == participant_id,
                    t.sessions.c.campaign_id == campaign_id,
                )
            )
        ).first()
        if row is None:
            return None
        m = row._mapping
        return SessionRecord(
            id=m["id"],
            participant_id=m["participant_id"],
            campaign_id=m["campaign_id"],
            state=dict(m["state"]),
            status=m["status"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )

    # ------------------------------------------------------------ group commit's batched reads

    async def conversations(self, users: Sequence[UserRef]) -> dict[UserRef, Conversation]:
        """Where many citizens stand, in one statement per platform: what group commit's
        batched path needs.

        Rows are locked as :meth:`participant` with ``for_update`` does (platform by platform,
        in id order, so two processes locking overlapping batches queue instead of
        deadlocking). Only the columns needed are read: decoding the others cost as much as the
        rest of the path."""
        p, s, c = t.participants, t.sessions, t.campaigns
        active = and_(s.c.participant_id == p.c.id, s.c.campaign_id == p.c.active_campaign_id)
        found: dict[UserRef, Conversation] = {}
        for platform, ids in _by_platform((u.platform, u.user_id) for u in users):
            stmt = (
                select(
                    p.c.id,
                    p.c.platform_user_id,
                    p.c.reply_chat_id,
                    p.c.pending_action,
                    p.c.unreachable,
                    p.c.pending_since,
                    p.c.stopped,
                    p.c.language,
                    p.c.active_campaign_id,
                    s.c.id,
                    s.c.campaign_id,
                    s.c.state,
                    c.c.status,
                    c.c.flow_version,
                )
                .select_from(p.outerjoin(s, active).outerjoin(c, c.c.id == s.c.campaign_id))
                .where(p.c.platform == platform, p.c.platform_user_id.in_(ids))
                .order_by(p.c.id)
            )
            if self.dialect == "postgresql":
                stmt = stmt.with_for_update(of=p)
            rows = (await self.conn.execute(stmt)).all()
            for (
                pid,
                user_id,
                chat,
                pending,
                unreachable,
                since,
                stopped,
                language,
                active,
                sid,
                cid,
                state,
                status,
                version,
            ) in rows:
                found[UserRef(platform, user_id)] = Conversation(
                    participant_id=pid,
                    reply_to=Address(platform, chat),
                    pending_action=pending,
                    unreachable=bool(unreachable),
                    pending_since=since,
                    stopped=bool(stopped),
                    language=language,
                    active_campaign_id=active,
                    session_id=sid,
                    campaign_id=cid,
                    state=state,
                    campaign_status=None if status is None else _CAMPAIGN_STATUS[status],
                    flow_version=version,
                )
        return found

    async def already_claimed(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (platform, message id) keys were handled before (redeliveries)."""
        pm = t.processed_messages
        claimed: set[tuple[str, str]] = set()
        for platform, ids in _by_platform(keys):
            by_key = {message_key(m): m for m in ids}
            stmt = select(pm.c.message_id).where(
                pm.c.platform == platform, pm.c.message_id.in_(list(by_key))
            )
            claimed.update((platform, by_key[k]) for k in (await self.conn.execute(stmt)).scalars())
        return claimed

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
        """Insert or update the session; a caller that knows its id saves a look-up."""
        existing_id = session_id
        if existing_id is None:
            existing = await self.session(participant_id, campaign_id)
            existing_id = existing.id if existing is not None else None
        # Every save follows something the citizen sent: the reminder clock starts again.
        values = {
            "state": state,
            "status": status,
            "step_id": step_id,
            "updated_at": now,
            "last_input_at": now,
            "reminders_sent": 0,
        }
        if status == "completed":
            values["completed_at"] = now
        if existing_id is None:
            result = await self.conn.execute(
                insert(t.sessions)
                .values(
                    participant_id=participant_id, campaign_id=campaign_id, created_at=now, **values
                )
                .returning(t.sessions.c.id)
            )
            return int(result.scalar_one())
        await self.conn.execute(
            update(t.sessions).where(t.sessions.c.id == existing_id).values(**values)
        )
        return existing_id

    async def record_consent(
        self, session_id: int, flow_version: int | None, now: datetime
    ) -> None:
        await self.conn.execute(
            update(t.sessions)
            .where(t.sessions.c.id == session_id)
            .values(consent_version=flow_version, consent_at=now if flow_version else None)
        )

    async def delete_session(self, session_id: int) -> None:
        item_ids = select(t.items.c.id).where(t.items.c.session_id == session_id)
        await self.conn.execute(
            delete(t.item_revisions).where(t.item_revisions.c.item_id.in_(item_ids))
        )
        await self.conn.execute(delete(t.items).where(t.items.c.session_id == session_id))
        await self.conn.execute(delete(t.sessions).where(t.sessions.c.id == session_id))

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
        row = item_row(
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
        result = await self.conn.execute(insert(t.items).values(**row).returning(t.items.c.id))
        item_id = result.scalar_one()
        await self.conn.execute(
            insert(t.item_revisions).values(
                item_id=item_id, revision=1, text=text, value=value, deleted=False, created_at=now
            )
        )

    async def revise_item(
        self, *, session_id: int, seq: int, revision: int, text: str, value: Any, now: datetime
    ) -> None:
        item_id = await self._item_id(session_id, seq)
        await self.conn.execute(
            update(t.items)
            .where(t.items.c.id == item_id)
            .values(text=text, value=value, revision=revision, updated_at=now, deleted_at=None)
        )
        await self.conn.execute(
            insert(t.item_revisions).values(
                item_id=item_id,
                revision=revision,
                text=text,
                value=value,
                deleted=False,
                created_at=now,
            )
        )

    async def delete_item(self, *, session_id: int, seq: int, now: datetime) -> None:
        """Soft delete: the item leaves syntheses, its history records the deletion."""
        item_id = await self._item_id(session_id, seq)
        row = (
            await self.conn.execute(
                select(t.items.c.revision, t.items.c.text).where(t.items.c.id == item_id)
            )
        ).one()
        await self.conn.execute(
            update(t.items)
            .where(t.items.c.id == item_id)
            .values(deleted_at=now, updated_at=now, revision=row.revision + 1)
        )
        await self.conn.execute(
            insert(t.item_revisions).values(
                item_id=item_id,
                revision=row.revision + 1,
                text=row.text,
                value=None,
                deleted=True,
                created_at=now,
            )
        )

    async def erase_item_texts(
        self, *, session_id: int, seqs: Collection[int]
    ) -> tuple[datetime | None, list[str]]:
        """Blank the text of these items and of every revision of them (a message the citizen
        deleted on the platform: its words go, the fact that an item was deleted stays).
        Returns when the first of them was written, and the free texts erased."""
        i, r = t.items.c, t.item_revisions.c
        ids = select(i.id).where(i.session_id == session_id, i.seq.in_(list(seqs)))
        rows = (
            await self.conn.execute(
                select(i.created_at, r.text, r.value)
                .join(t.items, i.id == r.item_id)
                .where(r.item_id.in_(ids))
            )
        ).all()
        await self.conn.execute(
            update(t.item_revisions).where(r.item_id.in_(ids)).values(text="", value=None)
        )
        await self.conn.execute(update(t.items).where(i.id.in_(ids)).values(text="", value=None))
        self.erased = True
        return min((row.created_at for row in rows), default=None), _free_texts(rows)

    async def items_from_message(
        self, participant_id: int, message_id: str
    ) -> list[tuple[int, int, int]]:
        """(campaign id, session id, seq) of the live items a platform message gave."""
        result = await self.conn.execute(
            select(t.items.c.campaign_id, t.items.c.session_id, t.items.c.seq)
            .where(
                t.items.c.participant_id == participant_id,
                t.items.c.source_message_id == message_id,
                t.items.c.deleted_at.is_(None),
            )
            .order_by(t.items.c.seq)
        )
        return [(r.campaign_id, r.session_id, r.seq) for r in result.all()]

    async def _item_id(self, session_id: int, seq: int) -> int:
        result = await self.conn.execute(
            select(t.items.c.id).where(t.items.c.session_id == session_id, t.items.c.seq == seq)
        )
        return int(result.scalar_one())

    async def campaign_items(self, campaign_id: int) -> list[ItemRecord]:
        """The latest revision of every live item, in answer order."""
        items = t.items.c
        stmt = (
            item_select()
            .where(items.campaign_id == campaign_id, items.deleted_at.is_(None))
            .order_by(items.created_at, items.id)
        )
        return item_records((await self.conn.execute(stmt)).all())

    async def campaign_revisions(self, campaign_id: int) -> list[RevisionRecord]:
        stmt = (
            select(t.item_revisions)
            .join(t.items, t.items.c.id == t.item_revisions.c.item_id)
            .where(t.items.c.campaign_id == campaign_id)
            .order_by(t.item_revisions.c.created_at, t.item_revisions.c.id)
        )
        return [
            RevisionRecord(r.item_id, r.revision, r.text, bool(r.deleted), r.created_at)
            for r in (await self.conn.execute(stmt)).all()
        ]

    async def participant_items(self, participant_id: int) -> list[dict[str, Any]]:
        stmt = (
            select(
                t.campaigns.c.slug,
                t.items.c.step_id,
                t.items.c.text,
                t.items.c.value,
                t.items.c.revision,
                t.items.c.created_at,
                t.items.c.updated_at,
                t.items.c.deleted_at,
            )
            .join(t.campaigns, t.campaigns.c.id == t.items.c.campaign_id)
            .where(t.items.c.participant_id == participant_id)
            .order_by(t.items.c.id)
        )
        return [
            {
                "campaign": r.slug,
                "step": r.step_id,
                "text": r.text,
                "value": r.value,
                "revision": r.revision,
                "created_at": r.created_at.isoformat(),
                "updated_at": r.updated_at.isoformat(),
                "deleted": r.deleted_at is not None,
            }
            for r in (await self.conn.execute(stmt)).all()
        ]

    async def participant_sessions(self, participant_id: int) -> list[dict[str, Any]]:
        stmt = (
            select(
                t.campaigns.c.slug,
                t.sessions.c.status,
                t.sessions.c.consent_version,
                t.sessions.c.consent_at,
                t.sessions.c.created_at,
                t.sessions.c.completed_at,
            )
            .join(t.campaigns, t.campaigns.c.id == t.sessions.c.campaign_id)
            .where(t.sessions.c.participant_id == participant_id)
            .order_by(t.sessions.c.id)
        )
        return [
            {
                "campaign": r.slug,
                "status": r.status,
                "consent_flow_version": r.consent_version,
                "consent_at": r.consent_at.isoformat() if r.consent_at else None,
                "started_at": r.created_at.isoformat(),
                "completed_at": r.completed_at.isoformat() if r.completed_at else None,
            }
            for r in (await self.conn.execute(stmt)).all()
        ]

    # ------------------------------------------------------------------ outbox

    async def enqueue(
        self,
        address: Address,
        message: OutboundMessage,
        now: datetime,
        *,
        participant_id: int | None = None,
        dedupe_key: str | None = None,
        forget_after_send: bool = False,
    ) -> int | None:
        """Queue a message; None when ``dedupe_key`` was already queued (exactly-once sends).
        ``forget_after_send``: the recipient erased themselves; once sent, the row loses its
        chat id too."""
        values = outbox_row(
            address, message, now, participant_id, dedupe_key, forget_after_send=forget_after_send
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
        :meth:`outbox_lease_owners`).
        """
        o = t.outbox
        heads = _chat_heads(platforms, chat, skip_chats)
        stmt = (
            select(o.c.id, o.c.platform, o.c.chat_id, o.c.payload, o.c.attempts, o.c.participant_id)
            .where(
                o.c.id.in_(select(heads.c.id)),
                o.c.next_attempt_at <= now,
                or_(o.c.locked_until.is_(None), o.c.locked_until < now),
            )
            .order_by(o.c.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=o)
        rows = (await self.conn.execute(stmt)).all()
        if not rows:
            return []
        await self.conn.execute(
            update(o)
            .where(o.c.id.in_([r.id for r in rows]))
            .values(locked_until=now + lease, locked_by=owner)
        )
        return [
            OutboxRecord(
                id=r.id,
                address=Address(r.platform, r.chat_id),
                message=OutboundMessage.from_json(r.payload),
                attempts=r.attempts,
                participant_id=r.participant_id,
            )
            for r in rows
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
            self.erased = True

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

    async def next_outbox_due(
        self, platforms: Reach, *, skip_chats: Collection[Address] = ()
    ) -> datetime | None:
        """When :meth:`claim_outbox` (with the same ``skip_chats``) will next find something:
        the earliest a chat's head is due and not leased. A chat's later messages wait for
        its head; counting them, or heads leased to a sending worker, made an idle worker poll
        every 10 ms while a paced backlog waited."""
        o = t.outbox
        heads = _chat_heads(platforms, None, skip_chats)
        free_at = case(
            (o.c.locked_until > o.c.next_attempt_at, o.c.locked_until), else_=o.c.next_attempt_at
        )
        stmt = select(func.min(free_at)).where(o.c.id.in_(select(heads.c.id)))
        value = (await self.conn.execute(stmt)).scalar_one()
        return t.UTCDateTime().process_result_value(value, self.conn.dialect)

    # ------------------------------------------------------------ facilitators and adapter state

    async def grant_facilitator(
        self, user: UserRef, granted_by: str, now: datetime, campaign_id: int | None = None
    ) -> bool:
        stmt = (
            self._insert(t.facilitators)
            .values(
                platform=user.platform,
                user_id=user.user_id,
                campaign_id=campaign_id,
                granted_by=granted_by,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
        return bool((await self.conn.execute(stmt)).rowcount == 1)

    async def revoke_facilitator(self, user: UserRef, campaign_id: int | None = None) -> bool:
        cond = [
            t.facilitators.c.platform == user.platform,
            t.facilitators.c.user_id == user.user_id,
        ]
        if campaign_id is not None:
            cond.append(t.facilitators.c.campaign_id == campaign_id)
        result = await self.conn.execute(delete(t.facilitators).where(and_(*cond)))
        return bool(result.rowcount)

    async def facilitators(self) -> list[tuple[UserRef, str | None]]:
        stmt = (
            select(t.facilitators.c.platform, t.facilitators.c.user_id, t.campaigns.c.slug)
            .outerjoin(t.campaigns, t.campaigns.c.id == t.facilitators.c.campaign_id)
            .order_by(t.facilitators.c.id)
        )
        return [
            (UserRef(r.platform, r.user_id), r.slug) for r in (await self.conn.execute(stmt)).all()
        ]

    async def is_facilitator(self, user: UserRef, campaign_id: int | None = None) -> bool:
        cond = [
            t.facilitators.c.platform == user.platform,
            t.facilitators.c.user_id == user.user_id,
        ]
        if campaign_id is not None:
            cond.append(
                or_(
                    t.facilitators.c.campaign_id.is_(None),
                    t.facilitators.c.campaign_id == campaign_id,
                )
            )
        row = (await self.conn.execute(select(t.facilitators.c.id).where(*cond).limit(1))).first()
        return row is not None

    async def kv_get(self, key: str, *, for_update: bool = False) -> Any:
        stmt = select(t.kv.c.value).where(t.kv.c.key == key)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return None if row is None else row[0]

    async def kv_set(
        self, key: str, value: Any, now: datetime, *, subject: str | None = None
    ) -> None:
        """``subject``: whom the value is about ("platform:id"), erased with them."""
        stmt = self._insert(t.kv).values(key=key, value=value, updated_at=now, subject=subject)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.kv.c.key],
            set_={"value": value, "updated_at": now, "subject": subject},
        )
        await self.conn.execute(stmt)

    async def kv_delete(self, key: str) -> None:
        await self.conn.execute(delete(t.kv).where(t.kv.c.key == key))

    # ------------------------------------------------------------------ retention

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
            o.status.in_(["sent", "failed"]),
            o.next_attempt_at < before,
            # Not "dedupe_key IS NULL": without statistics SQLite then picks the dedupe keys'
            # index (NULL for most rows) and walks the whole history instead of ix_outbox_due.
            func.coalesce(o.dedupe_key, "") == "",
        )
        result = await self.conn.execute(delete(t.outbox).where(o.id.in_(self._batch(done, limit))))
        return int(result.rowcount)

    async def purge_message_keys(self, before: datetime, *, limit: int) -> int:
        pm = t.processed_messages.c
        old = select(pm.platform, pm.message_id).where(pm.processed_at < before)
        result = await self.conn.execute(
            delete(t.processed_messages).where(
                tuple_(pm.platform, pm.message_id).in_(self._batch(old, limit))
            )
        )
        return int(result.rowcount)

    def _batch(self, rows: Select[Any], limit: int) -> Select[Any]:
        """At most ``limit`` of ``rows``; on PostgreSQL none another process is purging (two
        bots purging at once take different rows instead of waiting on, or deadlocking with,
        each other)."""
        rows = rows.limit(limit)
        return rows.with_for_update(skip_locked=True) if self.dialect == "postgresql" else rows

    async def purge_adapter_state(self, before: datetime) -> int:
        """Adapter state about someone, untouched since ``before``."""
        kv = t.kv.c
        result = await self.conn.execute(
            delete(t.kv).where(kv.subject.is_not(None), kv.updated_at < before)
        )
        return int(result.rowcount)


def _checkpoint(path: str) -> bool:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS}")
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return bool(busy == 0)


#: The SQLite store whose writer lock the current task holds (to fail fast, not deadlock).
_holding: ContextVar[Store | None] = ContextVar("qn_bot_store_holding", default=None)


class Store:
    """Owns the database engine; hands out transactions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # SQLite: our own writers take turns (see writer_queue.py); busy_timeout is left for
        # other processes.
        self._writers = WriterQueue() if engine.dialect.name == "sqlite" else None
        self._scrubber: asyncio.Task[None] | None = None
        self._scrub_again = asyncio.Event()

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(create_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[Tx]:
        """A read-write transaction. ``urgent``: a tiny write that everything else waits for
        (an adapter's receive journal) — on SQLite it goes before the writers already queued."""
        if self._writers is None:
            async with database_errors(self.engine.url), self.engine.begin() as conn:
                yield Tx(conn)
            return
        if _holding.get() is self:
            raise RuntimeError("a transaction inside a transaction of one SQLite store deadlocks")
        async with self._writers.turn(urgent=urgent):
            token = _holding.set(self)
            try:
                async with database_errors(self.engine.url), self.engine.begin() as conn:
                    tx = Tx(conn)
                    yield tx
            finally:
                _holding.reset(token)
        if tx.erased:
            self.scrub()

    # ------------------------------------------------------------------ SQLite's files

    def _sqlite_path(self) -> str | None:
        database = make_url(self.engine.url).database
        return database if database and database != ":memory:" else None

    def scrub(self) -> None:
        """Something was erased: on SQLite, checkpoint and truncate the WAL now and a few times
        in the next seconds (:data:`SCRUB_DELAYS`), so that the pages that held it leave the
        journal once the main file has their new, zeroed version (secure_delete). Each request
        starts the series again. On PostgreSQL freed space is VACUUM's business."""
        if self._writers is None or self._sqlite_path() is None:
            return
        if self._scrubber is not None and not self._scrubber.done():
            self._scrub_again.set()
            return
        self._scrubber = asyncio.get_running_loop().create_task(self._scrub(), name="scrub-wal")

    async def _scrub(self) -> None:
        index = 0
        while index < len(SCRUB_DELAYS):
            self._scrub_again.clear()
            try:
                await asyncio.wait_for(self._scrub_again.wait(), SCRUB_DELAYS[index])
                index = 0  # erased again meanwhile: start the series over
                continue
            except TimeoutError:
                pass
            try:
                await self.checkpoint()
            except Exception:  # the file may be briefly unavailable: the next try will do
                log.warning("checkpoint of the database journal failed", exc_info=True)
            index += 1

    async def checkpoint(self) -> bool:
        """SQLite: copy the WAL into the main file and truncate it to nothing; False when a
        reader kept it from completing (tried again later). True on PostgreSQL."""
        path = self._sqlite_path()
        if path is None:
            return True
        return await asyncio.to_thread(_checkpoint, path)

    async def release_free_pages(self) -> int:
        """SQLite: hand the free pages back to the file system (incremental auto-vacuum), a
        bounded number per transaction; returns how many. PostgreSQL: 0 (VACUUM does it)."""
        if self._writers is None:
            return 0
        released = 0
        while True:
            async with self.transaction() as tx:
                free = int((await tx.conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one())
                if free == 0:
                    return released
                await tx.conn.exec_driver_sql(f"PRAGMA incremental_vacuum({VACUUM_PAGES})")
                after = int((await tx.conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one())
            if after >= free:  # auto_vacuum is not incremental on this file: nothing to do
                return released
            released += free - after

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Tx]:
        """A transaction that only reads (digests, exports): on SQLite it takes neither our
        writer lock nor the database's, so answers keep flowing while it runs; it sees the
        database as of its first read. Writing through it is a bug (SQLite refuses: the
        snapshot cannot be upgraded once a writer has committed)."""
        if self._writers is None:
            async with database_errors(self.engine.url), self.engine.connect() as conn:
                # One snapshot for the whole read: a digest's counts and items agree.
                await conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
                async with conn.begin():
                    yield Tx(conn)
            return
        async with database_errors(self.engine.url), self.engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                yield Tx(conn)

    async def close(self) -> None:
        scrubber, self._scrubber = self._scrubber, None
        if scrubber is not None and not scrubber.done():
            scrubber.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scrubber
            # What the series would still have done, once: the last words of an erasure.
            with contextlib.suppress(Exception):
                await self.checkpoint()
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
