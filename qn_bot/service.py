"""The host of the engine: one database transaction per inbound message.

For each message: claim its idempotency key, load the participant and their session, run the pure
engine (or a participant/facilitator command), write items, state and outbox rows — all in one
transaction — and only then wake the outbox worker. A redelivered message finds its key taken and
changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from qn_bot.apply import BatchedRows, write_flow, write_participant, write_vote
from qn_bot.campaigns import campaign_flow
from qn_bot.clock import Clock, utcnow
from qn_bot.commands import Command, parse_command
from qn_bot.config import (
    LimitsConfig,
    ModerationConfig,
    RemindersConfig,
    SiteConfig,
    TeamConfig,
)
from qn_bot.conversation import (
    VOTE_PREFIX,
    Awaiting,
    Campaign,
    CardShown,
    CastVote,
    Deck,
    Edited,
    Effect,
    Erase,
    EraseTexts,
    Facilitate,
    FlowChanged,
    Kind,
    Machine,
    Missing,
    Need,
    ParticipantState,
    Received,
    Report,
    SendMyData,
    Session,
    SetSignature,
    ShowRecap,
    Snapshot,
)
from qn_bot.domain import (
    Address,
    Attachment,
    CampaignStatus,
    DeviceLink,
    InboundKind,
    InboundMessage,
    OutboundMessage,
    UserRef,
)
from qn_bot.errors import DatabaseUnavailable
from qn_bot.facilitation import FacilitatorContext, run_facilitator_command
from qn_bot.flood import FloodGate, Verdict
from qn_bot.flows.engine import Engine
from qn_bot.flows.events import Say
from qn_bot.flows.format import Flow
from qn_bot.flows.state import SessionState
from qn_bot.group_commit import GroupCommit
from qn_bot.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, Catalog, default_catalog
from qn_bot.moderation import flag_on_screen, shown_to
from qn_bot.ports import (
    DeviceLinks,
    PrivateChats,
    TranscriptNews,
    TranscriptRow,
    TranscriptWatcher,
)
from qn_bot.recap.send import current_recap
from qn_bot.records import CampaignRecord, Conversation, ParticipantRecord
from qn_bot.redaction import redact
from qn_bot.repositories import Database, PseudonymFactory, Transaction
from qn_bot.rooms import (
    Arrival,
    Claim,
    Converse,
    FacilitateHere,
    NoLongerPrivate,
    Revise,
    RoomEffect,
    RoomNeed,
    Rooms,
    RoomSnapshot,
    Sender,
    Unknown,
    private_chat_wanted,
)
from qn_bot.store.batch import BatchWrites
from qn_bot.store.rows import random_pseudonym
from qn_bot.voting import Decks

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HandleResult:
    duplicate: bool = False
    replies: list[OutboundMessage] = field(default_factory=list)
    refused: bool = False  # over the citizen's flood limit: nothing stored (qn_bot.flood)


class _KeyedLocks:
    """One asyncio lock per conversation, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextmanager
    def _ref(self, key: str) -> Iterator[asyncio.Lock]:
        lock, count = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, count + 1)
        try:
            yield lock
        finally:
            lock, count = self._locks[key]
            if count == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, count - 1)

    async def run(self, key: str, fn: Callable[[], Awaitable[HandleResult]]) -> HandleResult:
        with self._ref(key) as lock:
            async with lock:
                return await fn()


class Service:
    def __init__(
        self,
        store: Database,
        *,
        catalog: Catalog | None = None,
        clock: Clock = utcnow,
        pseudonyms: PseudonymFactory = random_pseudonym,
        admins: tuple[str, ...] = (),
        default_language: str = DEFAULT_LANGUAGE,
        on_commit: Callable[[], None] | None = None,
        reminders: RemindersConfig | None = None,
        teams: tuple[TeamConfig, ...] = (),
        limits: LimitsConfig | None = None,
        unlimited_platforms: frozenset[str] = frozenset(),
        private_chats: Mapping[str, PrivateChats] | None = None,
        device_links: Mapping[str, DeviceLinks] | None = None,
        moderation: ModerationConfig | None = None,
        on_batch: Callable[[int], None] | None = None,
        site: SiteConfig | None = None,
        cards_random: random.Random | None = None,
        on_kept: TranscriptWatcher | None = None,
    ) -> None:
        """``private_chats``: by platform, what opens a private chat for a group /start (the
        running adapters); a platform without one is answered without a link; ``device_links``
        likewise for /lien. ``on_batch`` is told each group commit's size (metrics).
        ``cards_random``: the draw of voting cards (seeded in tests). ``on_kept`` is told of
        the citizens' messages kept as transcript rows (InboundMessage.kept), once committed."""
        self.store = store
        self.catalog = catalog if catalog is not None else default_catalog()
        self.clock = clock
        self.pseudonyms = pseudonyms
        self.admins = frozenset(admins)
        self.default_language = default_language
        self.on_commit = on_commit
        self.on_kept = on_kept
        self.reminders = reminders if reminders is not None else RemindersConfig()
        self.teams = teams
        self.moderation = moderation if moderation is not None else ModerationConfig()
        self.site = site if site is not None else SiteConfig()
        self._locks = _KeyedLocks()
        self._commits: GroupCommit[Inbound, HandleResult] = GroupCommit(
            self._handle_batch, on_batch=on_batch
        )
        self.machine = Machine(self.catalog)
        self.decks = Decks(cards_random)
        self.rooms = Rooms(self.catalog)
        self.private_chats: Mapping[str, PrivateChats] = (
            private_chats if private_chats is not None else {}
        )
        self.device_links: Mapping[str, DeviceLinks] = (
            device_links if device_links is not None else {}
        )
        self._engines: dict[tuple[int, int], Engine] = {}
        #: campaign records read so far (a campaign's title and flow never change): the
        #: batched path decides with them when its fresh status and flow version agree
        self._campaigns: dict[int, CampaignRecord] = {}
        self._flood = (
            FloodGate(limits.messages_per_window, limits.window_seconds)
            if limits is not None and limits.messages_per_window > 0
            else None
        )
        self._unlimited = unlimited_platforms

    # ------------------------------------------------------------------ entry point

    def admit(self, msg: InboundMessage) -> Verdict:
        """Count ``msg`` against its sender's flood limit: once per message, when it arrives.
        Handling it again (the database could not take it) must not count it again: a message
        tried a few times would be taken for a flood and dropped."""
        if self._flood is None or not self._limited(msg):
            return Verdict.ACCEPT
        return self._flood.check(str(msg.sender), self.clock().timestamp())

    async def handle(self, msg: InboundMessage, verdict: Verdict | None = None) -> HandleResult:
        """Handle one inbound message; returns after the transaction that holds it committed.
        ``verdict``: what :meth:`admit` said of it (asked here when not given)."""
        if verdict is None:
            verdict = self.admit(msg)
        if verdict is Verdict.WARN:
            # In the conversation's turn: after the replies to what came before it.
            return await self._locks.run(str(msg.sender), lambda: self._slow_down(msg))
        if verdict is Verdict.REFUSE:
            return HandleResult(refused=True)

        inbound = Inbound(msg, _command_in(msg))
        campaign = private_chat_wanted(_arrival(inbound))
        if campaign is not None:
            # Before the conversation's turn and outside any transaction: the platform may
            # take its time, and may deliver the citizen's first private message meanwhile.
            link = await self._open_private_chat(msg, campaign)
            inbound = dataclasses.replace(inbound, private_link=link)
        elif _wants_device_link(inbound):
            # Like the private chat: the platform makes it outside any transaction.
            inbound = dataclasses.replace(inbound, device_link=await self._device_link(msg))

        async def run() -> HandleResult:
            result = await self._commits.submit(inbound)
            if result.replies and self.on_commit is not None:
                self.on_commit()
            return result

        # One message per conversation in flight: a conversation's messages are handled in
        # order, and no batch ever holds two messages of one citizen.
        return await self._locks.run(str(msg.sender), run)

    async def _open_private_chat(self, msg: InboundMessage, campaign: str) -> str | None:
        chats = self.private_chats.get(msg.sender.platform)
        if chats is None:
            return None
        try:
            return await chats.open_private_chat(msg.sender, msg.address, campaign, msg.message_id)
        except Exception:
            # The group is still told to write privately, without a link.
            log.exception("could not open a private %s chat", msg.sender.platform)
            return None

    async def _device_link(self, msg: InboundMessage) -> DeviceLink | None:
        links = self.device_links.get(msg.sender.platform)
        if links is None:
            return None
        try:
            return await links.device_link(msg.sender, msg.message_id)
        except Exception:
            log.exception("could not make a %s device link", msg.sender.platform)
            return None

    def _limited(self, msg: InboundMessage) -> bool:
        """Flood limits count what the bot acts on: anything in a private chat, commands in a
        group (conversation between people in a group is none of the bot's business)."""
        if msg.sender.platform in self._unlimited:
            return False
        if msg.is_private:
            return True
        command = _command_in(msg)
        return command is not None and command.known

    async def _slow_down(self, msg: InboundMessage) -> HandleResult:
        """The first message refused in a flood: say why, once; store nothing of it."""
        async with self.store.transaction() as tx:
            participant = await tx.participants.participant(msg.sender)
            hint = msg.language_hint
            if participant is not None:
                language = self._lang(participant)
            elif hint is not None and hint in SUPPORTED_LANGUAGES:
                language = hint
            else:
                language = self.default_language
            reply = OutboundMessage(self.catalog.t(language, "slow_down"))
            await tx.outbox.enqueue(
                msg.address,
                reply,
                self.clock(),
                participant_id=participant.id if participant is not None else None,
            )
        if self.on_commit is not None:
            self.on_commit()
        return HandleResult(replies=[reply], refused=True)

    async def apologise(self, msg: InboundMessage) -> None:
        """Tell the citizen their message could not be handled (after an unexpected error)."""
        async with self.store.transaction() as tx:
            participant = await tx.participants.participant(msg.sender)
            language = self._lang(participant) if participant else self.default_language
            await tx.outbox.enqueue(
                msg.address,
                OutboundMessage(self.catalog.t(language, "internal_error")),
                self.clock(),
                participant_id=participant.id if participant else None,
            )
        if self.on_commit is not None:
            self.on_commit()

    async def _handle_batch(self, msgs: Sequence[Inbound]) -> list[HandleResult | BaseException]:
        """Many conversations' messages in one transaction (group commit).

        Should anything fail, the batch is rolled back and its messages are handled again one
        transaction each, so that one bad message costs the others nothing but time."""
        try:
            async with self.store.transaction() as tx:
                handled = await self._in_batch(tx, msgs)
                news = await _keep(tx, msgs, handled, self.clock())
            self._kept(news)
            return list(handled)
        except DatabaseUnavailable as exc:
            # No message's fault: one by one, each would wait out the same lock or outage.
            return [exc] * len(msgs)
        except Exception as exc:
            if len(msgs) == 1:
                return [exc]
            log.warning(
                "a batch of %d messages failed (%r); retrying them one by one", len(msgs), exc
            )
        results: list[HandleResult | BaseException] = []
        for msg in msgs:
            try:
                async with self.store.transaction() as tx:
                    result = await self._handle_in(tx, msg, self.clock())
                    news = await _keep(tx, [msg], [result], self.clock())
                self._kept(news)
                results.append(result)
            except Exception as exc:
                results.append(exc)
        return results

    def _kept(self, news: list[TranscriptNews]) -> None:
        if news and self.on_kept is not None:
            self.on_kept(news)

    async def _in_batch(self, tx: Transaction, inbounds: Sequence[Inbound]) -> list[HandleResult]:
        results: list[HandleResult | None] = [None] * len(inbounds)
        await self._batched(tx, inbounds, results)
        # What the batched reads could not decide (commands that read more, new citizens,
        # edits, groups…) goes the general way, after it: as if those messages had come just
        # after the others.
        return [
            result if result is not None else await self._handle_in(tx, inbound, self.clock())
            for inbound, result in zip(inbounds, results, strict=True)
        ]

    async def _batched(
        self, tx: Transaction, inbounds: Sequence[Inbound], results: list[HandleResult | None]
    ) -> None:
        """The general path, batched: the batch's known citizens' conversations and message
        keys read in two statements, each message decided (qn_bot.conversation, the engine),
        and everything written in one statement per table.

        A message whose decision needs more than those reads (Missing: decided before the
        engine runs), or does more than answer and move the flow (erasure, a facilitator
        command…), is left to :meth:`_handle_in` (its result stays None)."""
        plain = [
            n
            for n, inbound in enumerate(inbounds)
            if inbound.msg.is_private and inbound.msg.kind in _DECIDED_KINDS
        ]
        if not plain:
            return
        now = self.clock()
        msgs = [inbounds[n].msg for n in plain]
        conversations = await tx.sessions.conversations([msg.sender for msg in msgs])
        seen = await tx.idempotency.already_claimed(
            [(msg.sender.platform, msg.message_id) for msg in msgs]
        )
        writes = BatchWrites()
        rows = BatchedRows(tx, writes)
        voters = {
            conversations[inbounds[n].msg.sender].participant_id
            for n in plain
            if inbounds[n].msg.sender in conversations
            and _may_vote(inbounds[n], conversations[inbounds[n].msg.sender])
        }
        voted = await tx.votes.voted_items_of(voters) if voters else {}
        for n in plain:
            inbound = inbounds[n]
            msg = inbound.msg
            if (msg.sender.platform, msg.message_id) in seen:
                # No message id in the log: Telegram's embed the chat id (the user id).
                log.info("duplicate %s message ignored", msg.sender.platform)
                results[n] = HandleResult(duplicate=True)
                continue
            at = conversations.get(msg.sender)
            if at is None or at.reply_to != msg.address or at.unreachable:
                continue  # someone new, or back in a chat the general path records
            snap = self._batched_snapshot(at)
            received = _received(inbound, at.reply_to)
            decided = self.machine.decide(snap, received, now)
            if isinstance(decided, Missing) and decided.need == Need(decks=decided.need.decks):
                # Voting cards: read here too, so that votes stay in the batch.
                decks = await self._decks(
                    tx,
                    at.participant_id,
                    snap,
                    decided.need.decks,
                    now,
                    voted=voted if at.participant_id in voters else None,
                )
                if decks is None:
                    continue
                snap = dataclasses.replace(snap, decks={**snap.decks, **decks})
                decided = self.machine.decide(snap, received, now)
            if isinstance(decided, Missing):
                continue
            after, effects = decided
            if not all(isinstance(effect, _BATCHED_EFFECTS) for effect in effects):
                continue
            await writes.claim_message(msg.sender.platform, msg.message_id, now, at.participant_id)
            if after != snap.participant:
                await write_participant(rows, at.participant_id, snap.participant, after, now)
            replies: list[OutboundMessage] = []
            for effect in effects:
                if isinstance(effect, Say):
                    replies.append(effect.message)
                elif isinstance(effect, FlowChanged):
                    replies += await write_flow(rows, at.participant_id, effect, now)
                elif isinstance(effect, CastVote):
                    await write_vote(rows, at.participant_id, effect, now)
                elif isinstance(effect, CardShown):
                    await rows.shown(at.participant_id, msg.sender, effect.item_id, now)
            for reply in replies:
                await writes.enqueue(msg.address, reply, now, participant_id=at.participant_id)
            results[n] = HandleResult(replies=replies)
        await writes.flush(tx)
        await rows.flush()

    def _batched_snapshot(self, at: Conversation) -> Snapshot:
        """What the batched reads tell of a citizen; the campaign record comes from the
        records the general path read (a campaign's title and flow never change; its status
        and flow version are checked against the fresh read)."""
        campaigns: dict[int, CampaignRecord | None] = {}
        sessions: dict[int, Session | None] = {}
        cid = at.campaign_id
        known = self._campaigns.get(cid) if cid is not None else None
        if (
            cid is not None
            and known is not None
            and known.status is at.campaign_status
            and known.flow_version == at.flow_version
            and at.session_id is not None
            and at.state is not None
        ):
            campaigns[cid] = known
            sessions[cid] = Session(at.session_id, SessionState.from_json(at.state))
        return Snapshot(
            participant=ParticipantState.from_columns(
                pending_action=at.pending_action,
                pending_since=at.pending_since,
                stopped=at.stopped,
                language=at.language,
                active_campaign_id=at.active_campaign_id,
            ),
            pseudonym="",  # /signer is never decided here (its effect leaves the batch)
            default_language=self.default_language,
            engine=self._engine_for,
            campaigns=campaigns,
            sessions=sessions,
        )

    async def _handle_in(self, tx: Transaction, inbound: Inbound, now: datetime) -> HandleResult:
        """Any message, the general way, inside the caller's transaction."""
        msg = inbound.msg
        if not msg.is_private:
            return await self._handle_group(tx, inbound, now)
        if msg.kind is InboundKind.OPENED:
            return await self._opened(tx, msg, now)
        participant = await tx.participants.participant(msg.sender, for_update=True)
        # The key is claimed before anything is written: a redelivery changes nothing, not
        # even by re-creating a citizen who has been erased since.
        known_id = participant.id if participant is not None else None
        if not await tx.idempotency.claim_message(
            msg.sender.platform, msg.message_id, now, known_id
        ):
            log.info("duplicate %s message ignored", msg.sender.platform)
            return HandleResult(duplicate=True)
        if participant is None:
            language = msg.language_hint if msg.language_hint in SUPPORTED_LANGUAGES else None
            participant = await tx.participants.create_participant(
                msg.sender,
                msg.address,
                now,
                language=language,
                pseudonym_factory=self.pseudonyms,
            )
            await tx.idempotency.attach_message(msg.sender.platform, msg.message_id, participant.id)
        elif participant.reply_to != msg.address or participant.unreachable:
            # Writing to us privately: this chat reaches them (again).
            await tx.participants.update_participant(
                participant.id, now, reply_chat_id=msg.address.chat_id, unreachable=False
            )
            # reply_to stays the chat they wrote from before: what was asked there was not on
            # screen here (see Received.same_chat).
            participant = dataclasses.replace(participant, unreachable=False)
        replies, erased = await self._dispatch(tx, participant, inbound, now)
        # After /oublier the participant row is gone: the goodbye is tied to no one, and once
        # sent it loses its chat id too.
        for reply in replies:
            await tx.outbox.enqueue(
                msg.address,
                reply,
                now,
                participant_id=None if erased else participant.id,
                forget_after_send=erased,
            )
        return HandleResult(replies=replies)

    async def _opened(self, tx: Transaction, msg: InboundMessage, now: datetime) -> HandleResult:
        """The conversation was opened (the console, at start): show a known citizen where they
        stand, and only greet someone new — no question is put before their first message, so
        that message cannot be taken as its answer. Nothing is stored about someone new."""
        participant = await tx.participants.participant(msg.sender)
        if participant is None:
            replies = [OutboundMessage(self.catalog.t(self.default_language, "not_started"))]
        else:
            replies, _ = await self._decide_and_apply(
                tx, participant, msg, lambda snap: self.machine.on_screen(snap, now), now
            )
        for reply in replies:
            await tx.outbox.enqueue(
                msg.address, reply, now, participant_id=participant.id if participant else None
            )
        return HandleResult(replies=replies)

    async def _handle_group(self, tx: Transaction, inbound: Inbound, now: datetime) -> HandleResult:
        """Group chats and rooms (qn_bot.rooms decides): no answer is collected in public."""
        msg = inbound.msg
        effects = await self._decide_room(tx, inbound, RoomSnapshot(self.default_language))
        replies: list[OutboundMessage] = []
        for effect in effects:
            match effect:
                case Claim():
                    if not await tx.idempotency.claim_message(
                        msg.sender.platform, msg.message_id, now
                    ):
                        return HandleResult(duplicate=True)
                case NoLongerPrivate():
                    await tx.participants.mark_unreachable(msg.address, now)
                    dropped = await tx.outbox.outbox_fail_chat(
                        msg.address, "the chat is no longer private"
                    )
                    log.info(
                        "a private %s chat gained a member: %d waiting messages dropped",
                        msg.address.platform,
                        dropped,
                    )
                case Say(message=message):
                    replies.append(message)
                case FacilitateHere(command=command, language=language):
                    replies += await self._facilitate(
                        tx, msg.sender, language, command, now, private=False
                    )
        for reply in replies:
            await tx.outbox.enqueue(msg.address, reply, now)
        return HandleResult(replies=replies)

    async def _decide_room(
        self, tx: Transaction, inbound: Inbound, room: RoomSnapshot
    ) -> tuple[RoomEffect, ...]:
        """qn_bot.rooms' decision, with what it asks for loaded."""
        msg = inbound.msg
        arrival = _arrival(inbound)
        room = dataclasses.replace(room, private_link=inbound.private_link)
        while isinstance(decided := self.rooms.decide(room, arrival), Unknown):
            if decided.need is RoomNeed.SENDER:
                known = await tx.participants.participant(msg.sender)
                room = dataclasses.replace(room, sender=_sender(known, msg.address))
            else:
                owners = await tx.participants.reached_at(msg.address)
                room = dataclasses.replace(room, owners=tuple(o.language for o in owners))
        return decided

    # ------------------------------------------------------------------ decide, then apply

    def _lang(self, participant: ParticipantRecord) -> str:
        return participant.language if participant.language is not None else self.default_language

    async def _dispatch(
        self, tx: Transaction, participant: ParticipantRecord, inbound: Inbound, now: datetime
    ) -> tuple[list[OutboundMessage], bool]:
        """The replies to a citizen's message in their private chat, and whether it erased
        them (/oublier confirmed)."""
        msg = inbound.msg
        room = RoomSnapshot(self.default_language, sender=_sender(participant, msg.address))
        received = _received(inbound, participant.reply_to)
        replies: list[OutboundMessage] = []
        for effect in await self._decide_room(tx, inbound, room):
            match effect:
                case Say(message=message):
                    replies.append(message)
                case Revise():
                    replies += await self._edit_or_delete(tx, participant, msg, now)
                case Converse():
                    return await self._decide_and_apply(
                        tx,
                        participant,
                        msg,
                        lambda snap: self.machine.decide(snap, received, now),
                        now,
                    )
        return replies, False

    async def _decide_and_apply(
        self,
        tx: Transaction,
        participant: ParticipantRecord,
        msg: InboundMessage,
        decide: Callable[[Snapshot], tuple[ParticipantState, list[Effect]] | Missing],
        now: datetime,
    ) -> tuple[list[OutboundMessage], bool]:
        snap = await self._snapshot(tx, participant)
        while isinstance(decided := decide(snap), Missing):
            snap = await self._load(tx, participant, snap, decided.need)
        after, effects = decided
        await write_participant(tx.participants, participant.id, snap.participant, after, now)
        language = after.language if after.language is not None else self.default_language
        replies: list[OutboundMessage] = []
        erased = False
        for effect in effects:
            match effect:
                case Say(message=message):
                    replies.append(message)
                case FlowChanged():
                    replies += await write_flow(tx.sessions, participant.id, effect, now)
                case Facilitate(command=command):
                    replies += await self._facilitate(tx, participant.user, language, command, now)
                case SendMyData():
                    replies.append(await self._my_data(tx, participant))
                case Report():
                    said = await flag_on_screen(tx, participant, now)
                    replies.append(OutboundMessage(self.catalog.t(language, said)))
                case ShowRecap():
                    replies.append(
                        await current_recap(
                            tx,
                            participant,
                            self.site,
                            now,
                            default_language=self.default_language,
                            catalog=self.catalog,
                        )
                    )
                case CastVote():
                    await write_vote(tx.votes, participant.id, effect, now)
                case CardShown(item_id=item_id):
                    await shown_to(tx, participant, item_id, now)
                case SetSignature(signature=signature, taken=taken, done=done):
                    replies.append(
                        done
                        if await tx.participants.set_signature(participant.id, signature, now)
                        else taken
                    )
                case Erase():
                    await self._erase(tx, participant, msg, now)
                    erased = True
                case EraseTexts(session_id=session_id, seqs=seqs):
                    since, texts = await tx.sessions.erase_item_texts(
                        session_id=session_id, seqs=seqs
                    )
                    await self._redact_queued(tx, texts, since)
        return replies, erased

    async def _snapshot(self, tx: Transaction, participant: ParticipantRecord) -> Snapshot:
        """The participant and, when they are in one, their campaign and session: what most
        decisions need (more is loaded when a decision asks for it)."""
        snap = Snapshot(
            participant=ParticipantState.from_columns(
                pending_action=participant.pending_action,
                pending_since=participant.pending_since,
                stopped=participant.stopped,
                language=participant.language,
                active_campaign_id=participant.active_campaign_id,
            ),
            pseudonym=participant.pseudonym,
            default_language=self.default_language,
            engine=self._engine_for,
        )
        if participant.active_campaign_id is None:
            return snap
        active = frozenset({participant.active_campaign_id})
        return await self._load(tx, participant, snap, Need(campaigns=active, sessions=active))

    async def _load(
        self, tx: Transaction, participant: ParticipantRecord, snap: Snapshot, need: Need
    ) -> Snapshot:
        campaigns = dict(snap.campaigns)
        sessions = dict(snap.sessions)
        by_slug = dict(snap.by_slug)
        open_campaigns = snap.open_campaigns
        facilitator = snap.facilitator

        def known(campaign: CampaignRecord) -> None:
            campaigns[campaign.id] = self._campaigns[campaign.id] = campaign

        for campaign_id in need.campaigns:
            campaign = await tx.campaigns.campaign_by_id(campaign_id)
            campaigns[campaign_id] = campaign
            if campaign is not None:
                known(campaign)
        for slug in need.slugs:
            campaign = await tx.campaigns.campaign_by_slug(slug)
            by_slug[slug] = None if campaign is None else campaign.id
            if campaign is not None:
                known(campaign)
        if need.open_campaigns:
            found = await tx.campaigns.campaigns(CampaignStatus.OPEN)
            for campaign in found:
                known(campaign)
            open_campaigns = tuple(campaign.id for campaign in found)
        for campaign_id in need.sessions:
            session = await tx.sessions.session(participant.id, campaign_id)
            sessions[campaign_id] = (
                None
                if session is None
                else Session(session.id, SessionState.from_json(session.state))
            )
        if need.facilitator:
            facilitator = await self.is_facilitator(tx, participant.user)
        decks = dict(snap.decks)
        for campaign_id in need.decks - campaigns.keys():
            campaign = await tx.campaigns.campaign_by_id(campaign_id)
            campaigns[campaign_id] = campaign
            if campaign is not None:
                known(campaign)
        if need.decks:
            snap = dataclasses.replace(snap, campaigns=campaigns)
            loaded = await self._decks(tx, participant.id, snap, need.decks, self.clock())
            assert loaded is not None  # every campaign was read just above
            decks.update(loaded)
        return dataclasses.replace(
            snap,
            campaigns=campaigns,
            sessions=sessions,
            by_slug=by_slug,
            open_campaigns=open_campaigns,
            facilitator=facilitator,
            decks=decks,
        )

    async def _decks(
        self,
        tx: Transaction,
        participant_id: int,
        snap: Snapshot,
        campaign_ids: frozenset[int],
        now: datetime,
        *,
        voted: Mapping[tuple[int, int], set[int]] | None = None,
    ) -> dict[int, Deck] | None:
        """The voting cards of these campaigns (None: a campaign the snapshot has not read;
        a campaign that is no more has none)."""
        state = snap.participant
        on_screen = state.card if state.status is Awaiting.VOTE else None
        decks: dict[int, Deck] = {}
        for campaign_id in campaign_ids:
            if campaign_id not in snap.campaigns:
                return None
            campaign = self._campaigns.get(campaign_id)
            if snap.campaigns[campaign_id] is None or campaign is None:
                decks[campaign_id] = Deck(None, ())
                continue
            decks[campaign_id] = await self.decks.deck(
                tx,
                participant_id,
                campaign,
                on_screen,
                now,
                voted=None if voted is None else voted.get((participant_id, campaign_id), set()),
            )
        return decks

    def _engine_for(self, campaign: Campaign) -> Engine:
        """The machine's campaigns are records this service read (see _load)."""
        return self._engine(self._campaigns[campaign.id])

    def _engine(self, campaign: CampaignRecord) -> Engine:
        key = (campaign.id, campaign.flow_version)
        engine = self._engines.get(key)
        if engine is None:
            flow: Flow = campaign_flow(campaign)
            engine = self._engines[key] = Engine(flow, self.catalog)
        return engine

    async def _edit_or_delete(
        self, tx: Transaction, participant: ParticipantRecord, msg: InboundMessage, now: datetime
    ) -> list[OutboundMessage]:
        """A platform edit or deletion of an earlier message: the items it gave, decided on."""
        if msg.target_message_id is None:
            return []
        found = await tx.sessions.items_from_message(participant.id, msg.target_message_id)
        if not found:
            return []  # the message gave no item (a command, a refused answer): nothing to do
        campaign_id, session_id, _ = found[0]
        edit = Edited(
            deleted=msg.kind is InboundKind.DELETE,
            campaign_id=campaign_id,
            session_id=session_id,
            seqs=tuple(seq for _, _, seq in found),
            text=msg.text,
        )
        replies, _ = await self._decide_and_apply(
            tx, participant, msg, lambda snap: self.machine.edited(snap, edit, now), now
        )
        return replies

    # ------------------------------------------------------------------ rights

    async def _erase(
        self, tx: Transaction, participant: ParticipantRecord, msg: InboundMessage, now: datetime
    ) -> None:
        """/oublier confirmed: the citizen, their answers, and their words in what waits to be
        sent to others."""
        since, texts = await tx.participants.participant_texts(participant.id)
        if participant.signature is not None:  # a name she gave: hers to take back too
            texts.append(participant.signature)
        await self._redact_queued(tx, texts, since, besides=participant.id)
        await tx.participants.delete_participant(participant.id)
        # The erasure removed this message's key with the rest; keep it, unattached (keys
        # are digests: it names no one), so a redelivery cannot bring the citizen back.
        await tx.idempotency.claim_message(msg.sender.platform, msg.message_id, now, None)
        log.info("a %s participant was erased on request", participant.user.platform)

    async def _redact_queued(
        self,
        tx: Transaction,
        texts: list[str],
        since: datetime | None,
        *,
        besides: int | None = None,
    ) -> None:
        """Take ``texts`` out of the messages queued since ``since`` (or kept once sent) for
        anyone but the participant ``besides``: see :mod:`qn_bot.redaction`."""
        if not texts or since is None:
            return

        def note(filename: str) -> str:
            return self.catalog.t(self.default_language, "erased_attachment", filename=filename)

        for outbox_id, message in await tx.outbox.messages_with_content(
            since, besides_participant=besides
        ):
            redacted = redact(message, texts, dropped_note=note)
            if redacted is not None:
                await tx.outbox.replace_message(outbox_id, redacted)

    async def _my_data(self, tx: Transaction, participant: ParticipantRecord) -> OutboundMessage:
        data = {
            "pseudonym": participant.pseudonym,
            "signature": participant.signature,
            "platform": participant.user.platform,
            "platform_user_id": participant.user.user_id,
            "language": participant.language,
            "created_at": participant.created_at.isoformat(),
            "stopped": participant.stopped,
            "sessions": await tx.sessions.participant_sessions(participant.id),
            "answers": await tx.sessions.participant_items(participant.id),
        }
        body = json.dumps(data, ensure_ascii=False, indent=2).encode()
        return OutboundMessage(
            self.catalog.t(self._lang(participant), "my_data"),
            attachments=(Attachment("mes_donnees.json", "application/json", body),),
        )

    # ------------------------------------------------------------------ facilitators

    async def is_facilitator(
        self, tx: Transaction, user: UserRef, campaign_id: int | None = None
    ) -> bool:
        """Admins (config) always; others when granted for all campaigns or for this one."""
        return str(user) in self.admins or await tx.facilitators.is_facilitator(user, campaign_id)

    async def _facilitate(
        self,
        tx: Transaction,
        user: UserRef,
        language: str,
        command: Command,
        now: datetime,
        *,
        private: bool = True,
    ) -> list[OutboundMessage]:
        if not await self.is_facilitator(tx, user):
            # Logged without the platform id: the log may be shared, the id is personal data.
            log.warning(
                "facilitator command /%s refused for a %s user", command.name, user.platform
            )
            return [OutboundMessage(self.catalog.t(language, "not_facilitator"))]

        async def may(campaign_id: int | None) -> bool:
            return await self.is_facilitator(tx, user, campaign_id)

        context = FacilitatorContext(
            tx=tx,
            actor=user,
            language=language,
            now=now,
            catalog=self.catalog,
            is_admin=str(user) in self.admins,
            may=may,
            reminders=self.reminders,
            teams=self.teams,
            private=private,
            tell_author=self.moderation.tell_author,
        )
        return await run_facilitator_command(context, command)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as the core handles it: with its command, parsed once."""

    msg: InboundMessage
    command: Command | None
    #: a group /start: where the adapter lets the sender talk privately (Service.handle)
    private_link: str | None = None
    #: /lien: the link the platform made for another device (Service.handle)
    device_link: DeviceLink | None = None


#: The effects the batched path writes (the others leave the message to the general one).
_BATCHED_EFFECTS = (Say, FlowChanged, CastVote, CardShown)

#: The kinds the participant machine decides (the others: edits, files, groups… see _dispatch).
_DECIDED_KINDS = frozenset({InboundKind.TEXT, InboundKind.CHOICE})


def _may_vote(inbound: Inbound, at: Conversation) -> bool:
    """Whether the message may need the citizen's voting cards (their votes are read for the
    whole batch at once)."""
    pending = at.pending_action or ""
    command = inbound.command
    return (
        pending.startswith(Awaiting.VOTE.value)
        or (command is not None and command.name == "voter")
        or (inbound.msg.choice_id or "").startswith(VOTE_PREFIX)
    )


def _wants_device_link(inbound: Inbound) -> bool:
    command = inbound.command
    return (
        inbound.msg.is_private and command is not None and command.known and command.name == "lien"
    )


def _command_in(msg: InboundMessage) -> Command | None:
    """The one place typed text is parsed for a command (adapters hand text over as it is)."""
    return parse_command(msg.text) if msg.kind is InboundKind.TEXT else None


def _arrival(inbound: Inbound) -> Arrival:
    msg = inbound.msg
    return Arrival(msg.is_private, msg.kind, inbound.command, msg.unsupported_reason)


def _sender(participant: ParticipantRecord | None, here: Address) -> Sender | None:
    if participant is None:
        return None
    return Sender(
        participant.language, participant.reply_to == here and not participant.unreachable
    )


def _received(inbound: Inbound, reply_to: Address) -> Received:
    msg = inbound.msg
    return Received(
        kind=Kind.CHOICE if msg.kind is InboundKind.CHOICE else Kind.TEXT,
        text=msg.text,
        choice_id=msg.choice_id,
        command=inbound.command,
        arrived_at=msg.received_at,
        message_id=msg.message_id,
        same_chat=reply_to == msg.address,
        device_link=inbound.device_link,
    )


async def _keep(
    tx: Transaction, inbounds: Sequence[Inbound], results: Sequence[HandleResult], now: datetime
) -> list[TranscriptNews]:
    """The transcript rows of the messages handled (not the repeats), in their transaction:
    one statement for the batch, and what to tell the watchers once it committed."""
    kept = [
        (inbound.msg.sender, inbound.msg.kept)
        for inbound, result in zip(inbounds, results, strict=True)
        if inbound.msg.kept is not None and not result.duplicate
    ]
    if not kept:
        return []
    rows = [
        {
            "subject": str(sender),
            "role": message.role,
            "body": message.body,
            "client_id": message.key,
            "created_at": now,
        }
        for sender, message in kept
    ]
    ids = await tx.transcripts.append_many(rows)
    news = []
    for sender, message in kept:
        given = ids.get((str(sender), message.key))
        if given is not None:
            row = TranscriptRow(given, message.role, message.body, message.key)
            news.append(TranscriptNews(sender, given, (row,)))
    return news
