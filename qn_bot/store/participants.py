"""Participants: who the citizens are to the bot, how to reach them, their erasure, and who
took part in a campaign (the SQL of the definition in qn_bot.participants)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    distinct,
    exists,
    func,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from qn_bot.domain import Address, UserRef
from qn_bot.identity import Signature
from qn_bot.records import ParticipantRecord, Participation
from qn_bot.repositories import PseudonymFactory
from qn_bot.store import schema as t
from qn_bot.store.moderation import public_items
from qn_bot.store.repository import Repository
from qn_bot.store.rows import PENDING, free_texts, participant_record, random_pseudonym


def _consented(consent_required: bool) -> list[ColumnElement[bool]]:
    return [t.sessions.c.consent_version.is_not(None)] if consent_required else []


def _participants_select(campaign_id: int, *, consent_required: bool) -> Select[Any]:
    """The participants of a campaign, one row each (a citizen has one session per campaign)."""
    s, i = t.sessions.c, t.items.c
    # One index seek per session (items' (session_id, seq) key); the first live item ends it.
    live = exists().where(i.session_id == s.id, i.deleted_at.is_(None))
    return select(s.participant_id, s.created_at, s.completed_at).where(
        s.campaign_id == campaign_id, live, *_consented(consent_required)
    )


def _respondents_of(
    campaign_id: int,
    step_id: str,
    window: int,
    consent_required: bool,
    since: datetime | None,
    until: datetime | None,
    public: ColumnElement[bool],
) -> ColumnElement[int]:
    """The respondents of one step among its first ``window`` live answers, as a scalar
    subquery: a range of ``ix_items_campaign_step_live``, each row looked up for its author
    (see qn_bot.participants.section_respondents for why a window is enough)."""
    i, s = t.items.c, t.sessions.c
    where = [i.campaign_id == campaign_id, i.step_id == step_id, i.deleted_at.is_(None), public]
    if since is not None:
        where.append(i.created_at >= since)
    if until is not None:
        where.append(i.created_at < until)
    rows = select(i.participant_id).where(*where)
    if consent_required:
        rows = rows.join_from(t.items, t.sessions, s.id == i.session_id).where(*_consented(True))
    rows = rows.limit(window)
    counted = rows.subquery()
    return select(func.count(distinct(counted.c.participant_id))).scalar_subquery()


class SqlParticipants(Repository):
    """Citizens: their row, their signature, whether they can be reached, their erasure."""

    __slots__ = ()

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
        return None if row is None else participant_record(row)

    async def participant_by_id(self, participant_id: int) -> ParticipantRecord | None:
        row = (
            await self.conn.execute(
                select(t.participants).where(t.participants.c.id == participant_id)
            )
        ).first()
        return None if row is None else participant_record(row)

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
        return [participant_record(row) for row in (await self.conn.execute(stmt)).all()]

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
        await self.conn.execute(
            delete(t.transcripts).where(t.transcripts.c.subject == str(person.user))
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
        self.work.erased = True

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
        return since, free_texts(rows)

    # --- who took part in a campaign (qn_bot.participants) -------------------------------------

    async def campaign_participants(
        self, campaign_id: int, *, consent_required: bool
    ) -> list[Participation]:
        stmt = _participants_select(campaign_id, consent_required=consent_required)
        rows = (await self.conn.execute(stmt)).all()
        return [Participation(r.participant_id, r.created_at, r.completed_at) for r in rows]

    async def section_respondents(
        self,
        campaign_id: int,
        windows: Mapping[str, int],
        *,
        consent_required: bool,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, int]:
        """Per step, the respondents among its first ``windows[step]`` live answers (of those
        given in [since, until) with ``since`` / ``until``), in one statement for every step."""
        if not windows:
            return {}
        # Only public items make respondents: a section must not be shown on the strength of
        # people whose every answer there is hidden (the threshold protects whom it shows).
        public = await public_items(self.conn, campaign_id)
        columns = [
            _respondents_of(
                campaign_id, step_id, window, consent_required, since, until, public
            ).label(f"s{n}")
            for n, (step_id, window) in enumerate(windows.items())
        ]
        row = (await self.conn.execute(select(*columns))).one()
        return {step_id: int(n) for step_id, n in zip(windows, row, strict=True)}
