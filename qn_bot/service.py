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
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from qn_bot.campaigns import campaign_flow
from qn_bot.clock import Clock, utcnow
from qn_bot.commands import FLOW_COMMANDS, Command, is_facilitator_command, parse_command
from qn_bot.config import LimitsConfig, RemindersConfig, TeamConfig
from qn_bot.domain import (
    Attachment,
    Button,
    ButtonKind,
    CampaignStatus,
    InboundKind,
    InboundMessage,
    OutboundMessage,
    UnsupportedReason,
    UserRef,
)
from qn_bot.errors import DatabaseUnavailable
from qn_bot.facilitation import FacilitatorContext, run_facilitator_command
from qn_bot.flood import FloodGate, Verdict
from qn_bot.flows.engine import (
    ChoiceInput,
    CommandInput,
    DeleteItem,
    EditItem,
    Engine,
    Input,
    TextInput,
)
from qn_bot.flows.events import (
    ConsentGiven,
    ConsentRefused,
    Event,
    ItemAdded,
    ItemDeleted,
    ItemRevised,
    ItemWithdrawn,
    LanguageChanged,
    Say,
)
from qn_bot.flows.format import Flow
from qn_bot.flows.state import SessionState, Status
from qn_bot.group_commit import GroupCommit
from qn_bot.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, Catalog, default_catalog
from qn_bot.identity import SignatureProblem, parse_signature
from qn_bot.records import CampaignRecord, ParticipantRecord
from qn_bot.redaction import redact
from qn_bot.repositories import Database, PseudonymFactory, Transaction
from qn_bot.store.batch import BatchWrites
from qn_bot.store.rows import random_pseudonym
from qn_bot.text import normalize, quote, split_items

log = logging.getLogger(__name__)

_FORGET = "forget"
_CHOOSE_CAMPAIGN = "choose_campaign"
_CAMPAIGN_PREFIX = "campaign:"


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
    ) -> None:
        self.store = store
        self.catalog = catalog if catalog is not None else default_catalog()
        self.clock = clock
        self.pseudonyms = pseudonyms
        self.admins = frozenset(admins)
        self.default_language = default_language
        self.on_commit = on_commit
        self.reminders = reminders if reminders is not None else RemindersConfig()
        self.teams = teams
        self._locks = _KeyedLocks()
        self._commits: GroupCommit[InboundMessage, HandleResult] = GroupCommit(self._handle_batch)
        self._engines: dict[tuple[int, int], Engine] = {}
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

        async def run() -> HandleResult:
            result = await self._commits.submit(msg)
            if result.replies and self.on_commit is not None:
                self.on_commit()
            return result

        # One message per conversation in flight: a conversation's messages are handled in
        # order, and no batch ever holds two messages of one citizen.
        return await self._locks.run(str(msg.sender), run)

    def _limited(self, msg: InboundMessage) -> bool:
        """Flood limits count what the bot acts on: anything in a private chat, commands in a
        group (conversation between people in a group is none of the bot's business)."""
        if msg.sender.platform in self._unlimited:
            return False
        if msg.is_private:
            return True
        command = parse_command(msg.text) if msg.kind is InboundKind.TEXT else None
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

    async def _handle_batch(
        self, msgs: Sequence[InboundMessage]
    ) -> list[HandleResult | BaseException]:
        """Many conversations' messages in one transaction (group commit).

        Should anything fail, the batch is rolled back and its messages are handled again one
        transaction each, so that one bad message costs the others nothing but time."""
        try:
            async with self.store.transaction() as tx:
                return list(await self._in_batch(tx, msgs))
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
                    results.append(await self._handle_in(tx, msg, self.clock()))
            except Exception as exc:
                results.append(exc)
        return results

    async def _in_batch(
        self, tx: Transaction, msgs: Sequence[InboundMessage]
    ) -> list[HandleResult]:
        results: list[HandleResult | None] = [None] * len(msgs)
        await self._plain_answers(tx, msgs, results)
        # What the batched path left (commands, new citizens, edits, groups…) goes the general
        # way, after it: as if those messages had come just after the plain answers.
        return [
            result if result is not None else await self._handle_in(tx, msg, self.clock())
            for msg, result in zip(msgs, results, strict=True)
        ]

    async def _plain_answers(
        self, tx: Transaction, msgs: Sequence[InboundMessage], results: list[HandleResult | None]
    ) -> None:
        """The common case, batched: a known citizen answering the question in front of them.

        Reads the batch's participants, sessions, campaigns and message keys in two statements,
        runs the engine, and writes everything in one statement per table. A message this path
        cannot fully handle the way :meth:`_handle_in` would is left for it (its result stays
        None); the engine is pure, so running it twice costs nothing but CPU.
        """
        inputs = [_flow_input(msg) for msg in msgs]
        plain = [n for n, inp in enumerate(inputs) if inp is not None]
        if not plain:
            return
        now = self.clock()
        conversations = await tx.sessions.conversations([msgs[n].sender for n in plain])
        seen = await tx.idempotency.already_claimed(
            [(msgs[n].sender.platform, msgs[n].message_id) for n in plain]
        )
        writes = BatchWrites()
        for n in plain:
            msg = msgs[n]
            if (msg.sender.platform, msg.message_id) in seen:
                # No message id in the log: Telegram's embed the chat id (the user id).
                log.info("duplicate %s message ignored", msg.sender.platform)
                results[n] = HandleResult(duplicate=True)
                continue
            at = conversations.get(msg.sender)
            if (
                at is None
                or at.pending_action is not None
                or at.reply_to != msg.address
                or at.unreachable
                or at.campaign_status is not CampaignStatus.OPEN
                or at.session_id is None
                or at.campaign_id is None
                or at.state is None
                or at.flow_version is None
            ):
                continue
            engine = self._engines.get((at.campaign_id, at.flow_version))
            if engine is None:  # not built since start: the general path builds it
                continue
            inp = inputs[n]
            assert inp is not None
            state, events = engine.resume(
                SessionState.from_json(at.state), inp, now, arrived_at=msg.received_at
            )
            if not all(isinstance(event, Say | ItemAdded) for event in events):
                continue
            await writes.claim_message(msg.sender.platform, msg.message_id, now, at.participant_id)
            await writes.save_session(
                at.participant_id,
                at.campaign_id,
                state.to_json(),
                now,
                status=state.status.value,
                step_id=state.step_id,
                session_id=at.session_id,
            )
            for event in events:
                if isinstance(event, ItemAdded):
                    await writes.add_item(
                        session_id=at.session_id,
                        campaign_id=at.campaign_id,
                        participant_id=at.participant_id,
                        seq=event.seq,
                        step_id=event.step_id,
                        text=event.text,
                        value=_jsonable(event.value),
                        now=now,
                        source_message_id=msg.message_id,
                    )
            replies = self._says(events)
            for reply in replies:
                await writes.enqueue(msg.address, reply, now, participant_id=at.participant_id)
            results[n] = HandleResult(replies=replies)
        await writes.flush(tx)

    async def _handle_in(self, tx: Transaction, msg: InboundMessage, now: datetime) -> HandleResult:
        """Any message, the general way, inside the caller's transaction."""
        if not msg.is_private:
            return await self._handle_group(tx, msg, now)
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
            # screen here (see _dispatch).
            participant = dataclasses.replace(participant, unreachable=False)
        replies = await self._dispatch(tx, participant, msg, now)
        # After /oublier the participant row is gone: the goodbye is tied to no one, and once
        # sent it loses its chat id too. Only a confirmed /oublier erases a participant, and
        # only while it is pending.
        still_there = (
            participant.pending_action != _FORGET
            or await tx.participants.participant_by_id(participant.id) is not None
        )
        for reply in replies:
            await tx.outbox.enqueue(
                msg.address,
                reply,
                now,
                participant_id=participant.id if still_there else None,
                forget_after_send=not still_there,
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
            replies = await self._on_screen(tx, participant, now)
        for reply in replies:
            await tx.outbox.enqueue(
                msg.address, reply, now, participant_id=participant.id if participant else None
            )
        return HandleResult(replies=replies)

    async def _handle_group(
        self, tx: Transaction, msg: InboundMessage, now: datetime
    ) -> HandleResult:
        """Group chats and rooms: answers are never collected in public.

        Only /start (answered with a link to a private chat) and facilitator commands are
        served; everything else is conversation between people and is ignored. No participant
        record is created for someone who only speaks in a group.
        """
        if msg.kind is InboundKind.SHARED:
            return await self._chat_shared(tx, msg, now)
        command = parse_command(msg.text) if msg.kind is InboundKind.TEXT else None
        if command is None or not command.known:
            # A citizen answering in what was their private chat: it gained a member without
            # the adapter telling us (a gap in its history) — the same as being told.
            known = await tx.participants.participant(msg.sender)
            if known is not None and known.reply_to == msg.address and not known.unreachable:
                return await self._chat_shared(tx, msg, now)
            return HandleResult()
        replies: list[OutboundMessage] = []
        if not await tx.idempotency.claim_message(msg.sender.platform, msg.message_id, now):
            return HandleResult(duplicate=True)
        known = await tx.participants.participant(msg.sender)
        language = self._lang(known) if known is not None else self.default_language
        if command.name == "start":
            link = msg.private_link if msg.private_link else ""
            replies.append(
                OutboundMessage(self.catalog.t(language, "group_use_private", link=link))
            )
        elif is_facilitator_command(command.name):
            replies += await self._facilitate(tx, msg.sender, language, command, now, private=False)
        for reply in replies:
            await tx.outbox.enqueue(msg.address, reply, now)
        return HandleResult(replies=replies)

    async def _chat_shared(
        self, tx: Transaction, msg: InboundMessage, now: datetime
    ) -> HandleResult:
        """A citizen's private chat with the bot is private no more (someone else was invited):
        no answer is collected there any longer, nothing personal is sent there — reminders,
        recaps, files still waiting — and the citizen is told why, once."""
        if not await tx.idempotency.claim_message(msg.sender.platform, msg.message_id, now):
            return HandleResult(duplicate=True)
        owners = await tx.participants.reached_at(msg.address)
        if not owners:
            return HandleResult()  # a group room all along, or already told
        await tx.participants.mark_unreachable(msg.address, now)
        dropped = await tx.outbox.outbox_fail_chat(msg.address, "the chat is no longer private")
        log.info(
            "a private %s chat gained a member: %d waiting messages dropped",
            msg.address.platform,
            dropped,
        )
        reply = self._say(owners[0], "chat_shared")
        await tx.outbox.enqueue(msg.address, reply, now)
        return HandleResult(replies=[reply])

    # ------------------------------------------------------------------ dispatch

    def _lang(self, participant: ParticipantRecord) -> str:
        return participant.language if participant.language is not None else self.default_language

    def _say(self, participant: ParticipantRecord, key: str, **params: object) -> OutboundMessage:
        return OutboundMessage(self.catalog.t(self._lang(participant), key, **params))

    async def _dispatch(
        self, tx: Transaction, participant: ParticipantRecord, msg: InboundMessage, now: datetime
    ) -> list[OutboundMessage]:
        if msg.kind is InboundKind.UNSUPPORTED:
            if msg.unsupported_reason is UnsupportedReason.UNDECRYPTABLE:
                return [self._say(participant, "undecryptable_message")]
            return [self._say(participant, "unsupported_message")]
        if msg.kind in (InboundKind.EDIT, InboundKind.DELETE):
            return await self._edit_or_delete(tx, participant, msg, now)
        command = parse_command(msg.text) if msg.kind is InboundKind.TEXT else None
        if command is None and participant.reply_to != msg.address:
            # Another chat of the same person (a second Matrix direct chat): what the bot asked
            # was shown elsewhere, not there. Shown there first; answered from there next.
            shown = await self._on_screen(tx, participant, now)
            if shown:
                return shown
        if (
            participant.pending_action is not None
            and command is None
            and _arrived_before(msg, participant.pending_since)
        ):
            # Not an answer to a question that was not on screen yet: asked again.
            return [self._say(participant, "not_on_screen"), *await self._pending(tx, participant)]
        if participant.pending_action == _FORGET:
            return await self._confirm_forget(tx, participant, msg, command, now)
        if participant.pending_action == _CHOOSE_CAMPAIGN and command is None:
            return await self._choose_campaign(tx, participant, msg, now)
        if command is not None:
            handled = await self._participant_command(tx, participant, command, now)
            if handled is not None:
                return handled
        inp: Input
        if command is not None:
            inp = CommandInput(command.name, command.arg, command.known)
        elif msg.kind is InboundKind.CHOICE and msg.choice_id is not None:
            inp = ChoiceInput(msg.choice_id)
        else:
            inp = TextInput(msg.text)
        return await self._to_engine(
            tx, participant, inp, now, source=msg.message_id, arrived_at=msg.received_at
        )

    async def _participant_command(
        self, tx: Transaction, participant: ParticipantRecord, command: Command, now: datetime
    ) -> list[OutboundMessage] | None:
        """Commands about the participant rather than the flow; None lets the engine handle it."""
        name = command.name
        if is_facilitator_command(name):
            return await self._facilitate(
                tx, participant.user, self._lang(participant), command, now
            )
        if name == "start":
            if participant.stopped:
                await tx.participants.update_participant(participant.id, now, stopped=False)
            return await self._start(tx, participant, command.arg, now)
        if name == "stop":
            await tx.participants.update_participant(participant.id, now, stopped=True)
            return [self._say(participant, "stopped")]
        if name == "reprendre" and participant.stopped:
            await tx.participants.update_participant(participant.id, now, stopped=False)
            return await self._prompt(tx, participant, now)
        if name == "oublier":
            await tx.participants.update_participant(participant.id, now, pending_action=_FORGET)
            return [self._forget_question(participant)]
        if name == "mes_donnees":
            return [await self._my_data(tx, participant)]
        if name == "signer":
            return [await self._sign(tx, participant, command.arg, now)]
        if name == "langue" and command.arg:
            wanted = command.arg.strip().lower()[:2]
            if wanted in SUPPORTED_LANGUAGES:
                await tx.participants.update_participant(participant.id, now, language=wanted)
                participant = await self._reload(tx, participant)
                if await self._open_campaign(tx, participant) is None:
                    return [self._say(participant, "language_changed")]
        return None

    async def _sign(
        self, tx: Transaction, participant: ParticipantRecord, typed: str, now: datetime
    ) -> OutboundMessage:
        """/signer NAME: one name names one participant; /signer alone: anonymous again."""
        signature = parse_signature(typed)
        if signature is SignatureProblem.EMPTY:
            await tx.participants.set_signature(participant.id, None, now)
            return self._say(participant, "unsigned", pseudonym=participant.pseudonym)
        if isinstance(signature, SignatureProblem):
            return self._say(participant, f"signature_{signature.value}")
        if not await tx.participants.set_signature(participant.id, signature, now):
            return self._say(participant, "signature_taken", name=signature.text)
        return self._say(participant, "signed", name=signature.text)

    def _forget_question(self, participant: ParticipantRecord) -> OutboundMessage:
        lang = self._lang(participant)
        return OutboundMessage(
            self.catalog.t(lang, "forget_confirm"),
            buttons=(
                Button(ButtonKind.CHOICE, "forget_yes", self.catalog.t(lang, "forget_yes")),
                Button(ButtonKind.CHOICE, "forget_no", self.catalog.t(lang, "forget_no")),
            ),
        )

    async def _pending(
        self, tx: Transaction, participant: ParticipantRecord
    ) -> list[OutboundMessage]:
        """The question a pending action waits on, asked again."""
        if participant.pending_action == _FORGET:
            return [self._forget_question(participant)]
        if participant.pending_action == _CHOOSE_CAMPAIGN:
            return [
                self._campaign_choice(
                    participant, await tx.campaigns.campaigns(CampaignStatus.OPEN)
                )
            ]
        return []

    async def _open_campaign(
        self, tx: Transaction, participant: ParticipantRecord
    ) -> CampaignRecord | None:
        """The citizen's active campaign, if it is open (None: no campaign, or a closed one)."""
        if participant.active_campaign_id is None:
            return None
        campaign = await tx.campaigns.campaign_by_id(participant.active_campaign_id)
        if campaign is None or campaign.status is not CampaignStatus.OPEN:
            return None
        return campaign

    async def _reload(self, tx: Transaction, participant: ParticipantRecord) -> ParticipantRecord:
        fresh = await tx.participants.participant_by_id(participant.id)
        assert fresh is not None
        return fresh

    # ------------------------------------------------------------------ campaigns

    async def _start(
        self, tx: Transaction, participant: ParticipantRecord, slug: str, now: datetime
    ) -> list[OutboundMessage]:
        slug = normalize(slug).lower()
        if slug:
            campaign = await tx.campaigns.campaign_by_slug(slug)
            if campaign is None or campaign.status is CampaignStatus.DRAFT:
                return [self._say(participant, "unknown_campaign", slug=quote(slug))]
            if campaign.status is not CampaignStatus.OPEN:
                return [self._say(participant, "campaign_closed", title=campaign.title)]
            return await self._enter_campaign(tx, participant, campaign, now)
        active: CampaignRecord | None = None
        if participant.active_campaign_id is not None:
            active = await tx.campaigns.campaign_by_id(participant.active_campaign_id)
            session = await tx.sessions.session(participant.id, participant.active_campaign_id)
            if (
                active is not None
                and active.status is CampaignStatus.OPEN
                and session is not None
                and session.status == Status.ACTIVE.value
            ):
                return await self._enter_campaign(tx, participant, active, now)
        open_campaigns = await tx.campaigns.campaigns(CampaignStatus.OPEN)
        if not open_campaigns:
            if active is not None and active.status is not CampaignStatus.OPEN:
                return [self._say(participant, "campaign_closed", title=active.title)]
            return [self._say(participant, "no_campaign")]
        if len(open_campaigns) == 1:
            return await self._enter_campaign(tx, participant, open_campaigns[0], now)
        await tx.participants.update_participant(
            participant.id, now, pending_action=_CHOOSE_CAMPAIGN
        )
        return [self._campaign_choice(participant, open_campaigns)]

    def _campaign_choice(
        self, participant: ParticipantRecord, open_campaigns: Sequence[CampaignRecord]
    ) -> OutboundMessage:
        return OutboundMessage(
            self.catalog.t(self._lang(participant), "choose_campaign"),
            buttons=tuple(
                Button(ButtonKind.CHOICE, f"{_CAMPAIGN_PREFIX}{c.slug}", c.title)
                for c in open_campaigns
            ),
        )

    async def _choose_campaign(
        self, tx: Transaction, participant: ParticipantRecord, msg: InboundMessage, now: datetime
    ) -> list[OutboundMessage]:
        open_campaigns = await tx.campaigns.campaigns(CampaignStatus.OPEN)
        await tx.participants.update_participant(participant.id, now, pending_action=None)
        participant = await self._reload(tx, participant)
        picked: CampaignRecord | None = None
        if msg.kind is InboundKind.CHOICE and msg.choice_id:
            slug = msg.choice_id.removeprefix(_CAMPAIGN_PREFIX)
            picked = next((c for c in open_campaigns if c.slug == slug), None)
        else:
            typed = normalize(msg.text).casefold()
            for index, campaign in enumerate(open_campaigns, start=1):
                if typed in (str(index), campaign.slug.casefold(), campaign.title.casefold()):
                    picked = campaign
        if picked is None:
            return await self._start(tx, participant, "", now)
        return await self._enter_campaign(tx, participant, picked, now)

    async def _enter_campaign(
        self,
        tx: Transaction,
        participant: ParticipantRecord,
        campaign: CampaignRecord,
        now: datetime,
    ) -> list[OutboundMessage]:
        engine = self._engine(campaign)
        if participant.active_campaign_id != campaign.id or participant.pending_action:
            await tx.participants.update_participant(
                participant.id, now, active_campaign_id=campaign.id, pending_action=None
            )
        session = await tx.sessions.session(participant.id, campaign.id)
        if session is not None:
            state = SessionState.from_json(session.state)
            if state.status is not Status.REFUSED:
                return await self._show_again(tx, participant, campaign, session.id, state, now)
            await tx.sessions.delete_session(session.id)
        language = self._lang(participant)
        state, events = engine.start(language, now)
        return await self._persist(tx, participant, campaign, state, events, now)

    def _engine(self, campaign: CampaignRecord) -> Engine:
        key = (campaign.id, campaign.flow_version)
        engine = self._engines.get(key)
        if engine is None:
            flow: Flow = campaign_flow(campaign)
            engine = self._engines[key] = Engine(flow, self.catalog)
        return engine

    # ------------------------------------------------------------------ the engine

    async def _to_engine(
        self,
        tx: Transaction,
        participant: ParticipantRecord,
        inp: Input,
        now: datetime,
        *,
        source: str | None = None,
        arrived_at: datetime | None = None,
    ) -> list[OutboundMessage]:
        if participant.active_campaign_id is None:
            if isinstance(inp, CommandInput) and inp.name == "aide":
                return [self._say(participant, "help")]
            if isinstance(inp, CommandInput) and not inp.known:
                return [self._say(participant, "unknown_command", command=quote(inp.name))]
            return await self._start(tx, participant, "", now)
        campaign = await tx.campaigns.campaign_by_id(participant.active_campaign_id)
        session = await tx.sessions.session(participant.id, participant.active_campaign_id)
        if campaign is None or session is None:
            return await self._start(tx, participant, "", now)
        engine = self._engine(campaign)
        state = SessionState.from_json(session.state)
        if campaign.status is not CampaignStatus.OPEN:
            return self._closed_campaign(participant, campaign, engine, state, inp)
        state, events = engine.resume(state, inp, now, arrived_at=arrived_at)
        return await self._persist(
            tx, participant, campaign, state, events, now, source=source, session_id=session.id
        )

    def _closed_campaign(
        self,
        participant: ParticipantRecord,
        campaign: CampaignRecord,
        engine: Engine,
        state: SessionState,
        inp: Input,
    ) -> list[OutboundMessage]:
        """A closed (or archived) campaign: the answers may be read, not changed; the
        session is left as it is. Rights commands are served before (see _participant_command)."""
        language = self._lang(participant)
        if isinstance(inp, CommandInput) and not inp.known:
            return [self._say(participant, "unknown_command", command=inp.name)]
        if isinstance(inp, CommandInput) and inp.name == "mes_reponses":
            return [
                *self._says(engine.review_read_only(state, language)),
                self._say(participant, "campaign_closed_review", title=campaign.title),
            ]
        if isinstance(inp, CommandInput) and inp.name == "aide":
            return [self._say(participant, "help")]
        if isinstance(inp, CommandInput) and inp.name == "langue":  # no language, or unknown
            usage = ", ".join(f"/langue {code}" for code in SUPPORTED_LANGUAGES)
            return [self._say(participant, "language_usage", languages=usage)]
        return [self._say(participant, "campaign_closed", title=campaign.title)]

    async def _edit_or_delete(
        self, tx: Transaction, participant: ParticipantRecord, msg: InboundMessage, now: datetime
    ) -> list[OutboundMessage]:
        """A platform edit or deletion of an earlier message revises or deletes its items."""
        if msg.target_message_id is None:
            return []
        found = await tx.sessions.items_from_message(participant.id, msg.target_message_id)
        if not found:
            return []  # the message gave no item (a command, a refused answer): nothing to do
        campaign_id, session_id, _ = found[0]
        campaign = await tx.campaigns.campaign_by_id(campaign_id)
        session = await tx.sessions.session(participant.id, campaign_id)
        if campaign is None or session is None or session.id != session_id:
            return []
        # A closed campaign takes no edits; a deletion is the citizen withdrawing their words,
        # a right that outlives the campaign (as /oublier does).
        if campaign.status is not CampaignStatus.OPEN and msg.kind is not InboundKind.DELETE:
            return [self._say(participant, "campaign_closed", title=campaign.title)]
        engine = self._engine(campaign)
        state = SessionState.from_json(session.state)
        seqs = [seq for _, _, seq in found]
        inputs: list[Input]
        if msg.kind is InboundKind.DELETE:
            inputs = [DeleteItem(seq) for seq in seqs]
        else:
            texts = split_items(normalize(msg.text))
            if len(texts) != len(seqs):  # the edit changed how many bullets there are
                return [self._say(participant, "edit_not_applied")]
            inputs = [EditItem(seq, text) for seq, text in zip(seqs, texts, strict=True)]
        events: list[Event] = []
        for inp in inputs:
            state, more = engine.resume(state, inp, now)
            events += more
        replies = await self._persist(
            tx, participant, campaign, state, events, now, session_id=session.id
        )
        if msg.kind is InboundKind.DELETE:
            # Deleted on the platform: the words go, from every revision and from what waits
            # to be sent; the item stays, marked deleted.
            since, texts = await tx.sessions.erase_item_texts(session_id=session.id, seqs=seqs)
            await self._redact_queued(tx, texts, since)
        return replies

    async def _prompt(
        self, tx: Transaction, participant: ParticipantRecord, now: datetime
    ) -> list[OutboundMessage]:
        """Back after /stop: where the citizen was (a new start if nowhere)."""
        if participant.active_campaign_id is None:
            return await self._start(tx, participant, "", now)
        campaign = await tx.campaigns.campaign_by_id(participant.active_campaign_id)
        session = await tx.sessions.session(participant.id, participant.active_campaign_id)
        if campaign is None or session is None:
            return await self._start(tx, participant, "", now)
        return await self._on_screen(tx, participant, now)

    async def _on_screen(
        self, tx: Transaction, participant: ParticipantRecord, now: datetime
    ) -> list[OutboundMessage]:
        """What the citizen has in front of them, shown again (and dated again: what arrived
        before was meant for something else, e.g. another chat); no answer changes."""
        if participant.pending_action is not None:
            await tx.participants.update_participant(
                participant.id, now, pending_action=participant.pending_action
            )
            return await self._pending(tx, participant)
        if participant.active_campaign_id is None:
            return []
        campaign = await tx.campaigns.campaign_by_id(participant.active_campaign_id)
        session = await tx.sessions.session(participant.id, participant.active_campaign_id)
        if campaign is None or session is None:
            return []
        if campaign.status is not CampaignStatus.OPEN:
            return [self._say(participant, "campaign_closed", title=campaign.title)]
        state = SessionState.from_json(session.state)
        return await self._show_again(tx, participant, campaign, session.id, state, now)

    async def _show_again(
        self,
        tx: Transaction,
        participant: ParticipantRecord,
        campaign: CampaignRecord,
        session_id: int,
        state: SessionState,
        now: datetime,
    ) -> list[OutboundMessage]:
        welcome = [self._say(participant, "resumed")] if state.status is Status.ACTIVE else []
        state, events = self._engine(campaign).show_again(state, now)
        return welcome + await self._persist(
            tx, participant, campaign, state, events, now, session_id=session_id
        )

    async def _persist(
        self,
        tx: Transaction,
        participant: ParticipantRecord,
        campaign: CampaignRecord,
        state: SessionState,
        events: list[Event],
        now: datetime,
        *,
        source: str | None = None,
        session_id: int | None = None,
    ) -> list[OutboundMessage]:
        """Write the engine's events and the new state; ``source`` is the message behind them,
        ``session_id`` the session's row when it exists already (None: a new session)."""
        session_id = await tx.sessions.save_session(
            participant.id,
            campaign.id,
            state.to_json(),
            now,
            status=state.status.value,
            step_id=state.step_id,
            session_id=session_id,
        )
        for event in events:
            match event:
                case ItemAdded(seq=seq, step_id=step_id, text=text, value=value):
                    await tx.sessions.add_item(
                        session_id=session_id,
                        campaign_id=campaign.id,
                        participant_id=participant.id,
                        seq=seq,
                        step_id=step_id,
                        text=text,
                        value=_jsonable(value),
                        now=now,
                        source_message_id=source,
                    )
                case ItemRevised(seq=seq, revision=revision, text=text, value=value):
                    await tx.sessions.revise_item(
                        session_id=session_id,
                        seq=seq,
                        revision=revision,
                        text=text,
                        value=_jsonable(value),
                        now=now,
                    )
                case ItemDeleted(seq=seq) | ItemWithdrawn(seq=seq):
                    # A withdrawn item (its step no longer applies) is a deleted revision too.
                    await tx.sessions.delete_item(session_id=session_id, seq=seq, now=now)
                case ConsentGiven(flow_version=version):
                    await tx.sessions.record_consent(session_id, version, now)
                case ConsentRefused():
                    await tx.sessions.record_consent(session_id, None, now)
                case LanguageChanged(language=language):
                    await tx.participants.update_participant(participant.id, now, language=language)
                case _:
                    pass
        return self._says(events)

    @staticmethod
    def _says(events: list[Event]) -> list[OutboundMessage]:
        return [event.message for event in events if isinstance(event, Say)]

    # ------------------------------------------------------------------ rights

    async def _confirm_forget(
        self,
        tx: Transaction,
        participant: ParticipantRecord,
        msg: InboundMessage,
        command: Command | None,
        now: datetime,
    ) -> list[OutboundMessage]:
        answer = msg.choice_id if msg.kind is InboundKind.CHOICE else None
        if answer is None and command is None:
            typed = normalize(msg.text).casefold()
            yes = {
                "1",
                "oui",
                "yes",
                self.catalog.t(self._lang(participant), "forget_yes").casefold(),
            }
            answer = "forget_yes" if typed in yes else "forget_no"
        if answer == "forget_yes":
            since, texts = await tx.participants.participant_texts(participant.id)
            if participant.signature is not None:  # a name she gave: hers to take back too
                texts.append(participant.signature)
            await self._redact_queued(tx, texts, since, besides=participant.id)
            await tx.participants.delete_participant(participant.id)
            # The erasure removed this message's key with the rest; keep it, unattached (keys
            # are digests: it names no one), so a redelivery cannot bring the citizen back.
            await tx.idempotency.claim_message(msg.sender.platform, msg.message_id, now, None)
            log.info("a %s participant was erased on request", participant.user.platform)
            return [self._say(participant, "forget_done")]
        await tx.participants.update_participant(participant.id, now, pending_action=None)
        replies = [self._say(participant, "forget_cancelled")]
        if command is not None:
            participant = await self._reload(tx, participant)
            replies += await self._dispatch(tx, participant, msg, now)
        return replies

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
        )
        return await run_facilitator_command(context, command)


def _flow_input(msg: InboundMessage) -> Input | None:
    """What the engine alone can answer: text that is no command, a flow command, or a pressed
    choice, in a private chat; None for the rest (the general path)."""
    if not msg.is_private:
        return None
    if msg.kind is InboundKind.CHOICE:
        return None if msg.choice_id is None else ChoiceInput(msg.choice_id)
    if msg.kind is not InboundKind.TEXT:
        return None
    command = parse_command(msg.text)
    if command is None:
        return TextInput(msg.text)
    if command.known and command.name in FLOW_COMMANDS:
        return CommandInput(command.name, command.arg, command.known)
    return None


def _arrived_before(msg: InboundMessage, moment: datetime | None) -> bool:
    """The message was already on its way when ``moment`` came (unknown times: it was not)."""
    return msg.received_at is not None and moment is not None and msg.received_at < moment


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
