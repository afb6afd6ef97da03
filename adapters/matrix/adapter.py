"""The Matrix adapter: one bot account, one sync loop, end-to-end encryption (matrix-nio[e2e]).

Inbound: sync responses (already decrypted by nio) become InboundMessages, one room after the
other in order, rooms in parallel; the sync token is saved after they are handled. Outbound:
``send`` renders m.notice events with idempotent transaction ids (see outbound.py).

Several processes on one PostgreSQL: only the holder of the account's sync role
(qn_bot.leadership) logs in, syncs and sends. The device's E2EE crypto store (olm sessions,
one-time keys) must never be used by two processes at once, and a process without it cannot
encrypt; the others answer "retry later" for Matrix messages until they take the role over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from datetime import datetime
from typing import Any

from aiohttp import ClientError
from nio import InviteMemberEvent, JoinResponse, MegolmEvent, RoomCreateResponse, RoomPreset
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_not_exception_type,
    wait_exponential,
)

from qn_bot.config import Config, MatrixConfig
from qn_bot.domain import Address, Envelope, InboundKind, InboundMessage, UnsupportedReason, UserRef
from qn_bot.errors import (
    ConfigError,
    DatabaseUnavailable,
    RecipientUnreachable,
    RetryAfter,
    TransientDeliveryError,
)
from qn_bot.leadership import Lease, run_exclusively
from qn_bot.ports import Adapter, AdapterContext, InboundSink, Platform
from qn_bot.retrying import PatientKeyValue

from .inbound import Action, Parsed, parse_event
from .logs import guard_nio_logs
from .outbound import send_event, upload_attachment
from .policy import invite_allowed
from .render import CAPABILITIES, KEYCAPS, keycap_index, render
from .session import SESSION_KEY, open_session
from .sync import BACKOFF_CAP, BACKOFF_FIRST, LoggedOut, SyncLoop

log = logging.getLogger(__name__)

PLATFORM = "matrix"
SEEN_LIMIT = 20_000
RECENT_QUESTIONS = 3  # reactions answer any of the bot's last questions with choices
REACTION_CHOICES = 3  # questions with this many choices or fewer get clickable reactions
_OFFERS_KEPT = 256  # group /start messages whose direct chat is remembered (open_private_chat)
CONNECT_WAIT_SECONDS = 10.0
#: A syncing account hears from its homeserver at least every long-poll timeout (30 s).
SYNC_SILENCE = 120.0
#: A process without the sync role hands a Matrix message back for this long (the holder, or
#: this process once it takes the role over, sends it); rate-limit style, so no attempt is spent.
NOT_HOLDER_RETRY_SECONDS = 1.0
#: A graceful stop lets the sync response in hand be handled for this long (qn_bot.app).
STOP_RECEIVING_SECONDS = 5.0
MEGOLM = "m.megolm.v1.aes-sha2"


def matrix_link(room_id: str) -> str:
    return f"https://matrix.to/#/{room_id}"


class MatrixAdapter(Adapter):
    platform = PLATFORM
    capabilities = CAPABILITIES

    def __init__(self, config: MatrixConfig, context: AdapterContext) -> None:
        nio_log = logging.getLogger("nio")
        if nio_log.level == logging.NOTSET and not log.isEnabledFor(logging.DEBUG):
            nio_log.setLevel(logging.WARNING)  # nio logs every state event at INFO
        guard_nio_logs()
        self.config = config
        # What the adapter records while handling an event (a direct chat it opened, a
        # citizen's pending /start, its last questions) waits for a database that cannot
        # answer now: given up, the event was dropped while the sync moved past it.
        self.kv = PatientKeyValue(context.kv, _waiting_for_database)
        self.leadership = context.leadership
        self.clock = context.clock
        # When the sync response being handled arrived: every event in it arrived then, before
        # any of them was answered (a "/start" and a "oui" of one batch: the consent the first
        # one shows was not on screen when the second arrived).
        self._batch_received: datetime | None = None
        self.sync_role = f"matrix:{config.user_id}"
        self._lease: Lease | None = None
        self.client: Any = None
        self.user_id = config.user_id or ""
        self._sink: InboundSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._sync: SyncLoop | None = None
        self._ready = asyncio.Event()
        self._ended = asyncio.Event()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._invites_handled: set[str] = set()
        self._join_retries: dict[str, tuple[str, bool]] = {}  # room → (inviter, is_direct)
        self._direct: set[str] = set()
        # The chat opened for each recent group /start: asked again for one (the core retries
        # a message the database could not take), the same one is given, not a second room.
        self._offered: OrderedDict[str, str] = OrderedDict()
        # room → its last questions with choices: [{"event_id", "choices"}], newest first
        self._choices: dict[str, list[dict[str, Any]]] = {}
        self._txn_prefix = ""
        # False once stopping: the holder keeps its client and lease to send, syncs no more.
        self._receiving = True
        self._parked = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, sink: InboundSink) -> None:
        self._sink = sink
        self._task = asyncio.create_task(
            run_exclusively(self.leadership, self.sync_role, self._run_as_holder),
            name="matrix-adapter",
        )

    async def _run_as_holder(self, lease: Lease) -> None:
        """Everything the sync role allows, from the state the previous holder left."""
        self._lease = lease
        try:
            self._txn_prefix = await self.kv.get("txn_prefix") or ""
            if not self._txn_prefix:
                # Unique per database: a new database never reuses an old transaction id.
                self._txn_prefix = f"qn{secrets.token_hex(4)}"
                await self.kv.set("txn_prefix", self._txn_prefix)
            self._direct = set(await self.kv.get("direct_rooms") or [])
            self._choices.clear()  # the previous holder may have asked newer questions
            await self._run()
        finally:
            self._lease = None
            self._ready.clear()
            client, self.client = self.client, None
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()

    async def stop_receiving(self) -> None:
        self._receiving = False
        sync = self._sync
        if sync is not None:
            sync.stop()
        if self._lease is not None:  # the holder: let the batch in hand be handled
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._parked.wait(), STOP_RECEIVING_SECONDS)

    async def _park(self) -> None:
        """Stopping: hold the role and the client for the outbox's last sends, sync no more."""
        self._parked.set()
        await asyncio.Future()  # until stop() cancels the task

    def ended(self) -> asyncio.Event:
        return self._ended

    async def _run(self) -> None:
        # A crashed sync loop (e.g. the database briefly unavailable) starts again after a
        # capped backoff; a revoked token is no crash: it logs in again at once.
        restarting = AsyncRetrying(
            retry=retry_if_exception_type(Exception) & retry_if_not_exception_type(LoggedOut),
            wait=wait_exponential(multiplier=BACKOFF_FIRST, max=BACKOFF_CAP),
            before_sleep=_sync_crashed,
            reraise=True,
        )
        while True:
            if not await self._connect():
                return
            if not self._receiving:
                await self._park()
            try:
                await restarting(self._sync_anew)
            except LoggedOut as exc:
                # The token was revoked (logged out from another client, admin action): the
                # device is gone with it, so log in again as a new device.
                log.error("matrix: access token rejected (%s); logging in again", exc)
                await self.kv.set(SESSION_KEY, None)
                with contextlib.suppress(Exception):
                    await self.client.close()
                self.client = None
                self._ready.clear()

    async def _sync_anew(self) -> None:
        self._sync = SyncLoop(self.client, self.kv, self._handle_sync)
        await self._sync.run()

    async def _connect(self) -> bool:
        def waiting(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            log.warning("matrix: homeserver unreachable at start (%s); retrying", error)

        # The same capped backoff as the sync loop's (adapters/matrix/sync.py).
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((ClientError, TimeoutError, OSError)),
            wait=wait_exponential(multiplier=BACKOFF_FIRST, max=BACKOFF_CAP),
            before_sleep=waiting,
            reraise=True,
        )
        if self.client is None:
            try:
                self.client = await retrying(open_session, self.config, self.kv)
            except ConfigError:
                log.exception("matrix adapter cannot start")
                self._ended.set()
                return False
        self.user_id = str(self.client.user_id)
        return True

    # ------------------------------------------------------------------ inbound

    async def _handle_sync(self, resp: Any, initial: bool) -> None:
        self._batch_received = self.clock()
        if not self._ready.is_set():
            log.info(
                "matrix: first sync done as %s (device %s)", self.user_id, self.client.device_id
            )
        for room_id, (inviter, direct) in list(self._join_retries.items()):
            if room_id in self.client.invited_rooms:
                await self._guard(self._join_invited(room_id, inviter, direct))
            else:
                del self._join_retries[room_id]
        for room_id, info in resp.rooms.invite.items():
            await self._guard(self._on_invite(room_id, info))
        if initial:
            # The bot's very first sync: what was said before it existed is not for it.
            self._ready.set()
            return
        await asyncio.gather(
            *(
                self._guard(self._on_room(room_id, info))
                for room_id, info in resp.rooms.join.items()
            )
        )
        self._ready.set()

    async def _guard(self, job: Any) -> None:
        try:
            await job
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("matrix: handling an event failed")

    async def _on_invite(self, room_id: str, info: Any) -> None:
        if room_id in self._invites_handled:
            return
        invite = next(
            (
                e
                for e in info.invite_state
                if isinstance(e, InviteMemberEvent)
                and e.state_key == self.user_id
                and e.membership == "invite"
            ),
            None,
        )
        if invite is None:
            return
        inviter = str(invite.sender)
        if not invite_allowed(inviter, self.config.allowed_servers):
            # No ids in logs: user and room ids are personal data.
            log.info("matrix: declining an invitation from a server not allowed")
            await self.client.room_leave(room_id)
            self._invites_handled.add(room_id)
            return
        await self._join_invited(room_id, inviter, bool((invite.content or {}).get("is_direct")))

    async def _join_invited(self, room_id: str, inviter: str, direct: bool) -> None:
        try:
            resp = await self.client.join(room_id)
        except (ClientError, TimeoutError, OSError) as exc:
            resp = exc
        if not isinstance(resp, JoinResponse):
            log.warning("matrix: could not join a room (will retry): %s", _error(resp))
            self._join_retries[room_id] = (inviter, direct)
            return
        self._join_retries.pop(room_id, None)
        self._invites_handled.add(room_id)
        if direct:
            await self._mark_direct(room_id)
        log.info("matrix: joined a %s on invitation", "direct chat" if direct else "room")

    async def _mark_direct(self, room_id: str) -> None:
        if room_id not in self._direct:
            self._direct.add(room_id)
            await self.kv.set("direct_rooms", sorted(self._direct))

    def _is_private(self, room: Any) -> bool:
        # Members joined or invited: a direct chat someone else was invited into is shared,
        # whatever it was created as (an invited member may read the history once joined).
        return int(room.member_count) <= 2

    def _first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    async def _on_room(self, room_id: str, info: Any) -> None:
        room = self.client.rooms.get(room_id)
        if room is None:
            return
        if getattr(info.timeline, "limited", False):
            log.info(  # normal for a room just joined; after a long outage, events were missed
                "matrix: timeline gap in a room: only its last %d events came with this sync",
                len(info.timeline.events),
            )
        events = list(info.timeline.events)
        joined_at = self._own_join_index(events)
        if joined_at is not None and not self._is_private(room):
            # History of a group room the bot has just joined is not addressed to it. In a
            # direct chat it is: a citizen may write before the bot accepted the invitation.
            events = events[joined_at:]
        for event in events:
            await self._guard(self._on_event(room, event))

    def _own_join_index(self, events: list[Any]) -> int | None:
        for index, event in enumerate(events):
            source = getattr(event, "source", None) or {}
            if (
                source.get("type") == "m.room.member"
                and source.get("state_key") == self.user_id
                and (source.get("content") or {}).get("membership") == "join"
                and ((source.get("unsigned") or {}).get("prev_content") or {}).get("membership")
                != "join"
            ):
                return index
        return None

    async def _on_event(self, room: Any, event: Any) -> None:
        source: dict[str, Any] = getattr(event, "source", None) or {}
        event_id = str(getattr(event, "event_id", "") or source.get("event_id", ""))
        sender = str(getattr(event, "sender", "") or source.get("sender", ""))
        if not event_id or sender == self.user_id or not self._first_time(event_id):
            return
        if isinstance(event, MegolmEvent):
            log.warning("matrix: cannot decrypt a message (no room key yet)")
            with contextlib.suppress(Exception):
                await self.client.request_room_key(event)
            if self._is_private(room):
                # Tell the citizen it was not read (the core answers "unsupported": write again).
                unreadable = Parsed(
                    Action.MESSAGE,
                    InboundKind.UNSUPPORTED,
                    unsupported_reason=UnsupportedReason.UNDECRYPTABLE,
                )
                await self._deliver(room, event_id, sender, unreadable, source)
            return
        if source.get("type") == "m.room.member":
            await self._on_membership(room, source)
            return
        parsed = parse_event(source)
        if parsed is None:
            return
        await self._deliver(room, event_id, sender, parsed, source)

    async def _deliver(
        self, room: Any, event_id: str, sender: str, parsed: Parsed, source: dict[str, Any]
    ) -> None:
        choice_id: str | None = None
        if parsed.action is Action.REACTION:
            choice_id = await self._choice_for_reaction(room.room_id, parsed)
            if choice_id is None:
                return
        msg = InboundMessage(
            sender=UserRef(PLATFORM, sender),
            address=Address(PLATFORM, room.room_id),
            message_id=event_id,
            kind=parsed.kind,
            text=parsed.text,
            choice_id=choice_id,
            target_message_id=parsed.target_event_id if parsed.action is Action.MESSAGE else None,
            is_private=self._is_private(room),
            display_name=room.user_name(sender),
            unsupported_reason=parsed.unsupported_reason,
            # The bot's own clock, not origin_server_ts: that is the sender's homeserver's
            # clock (another machine under federation), and a few seconds of skew would date
            # a quick answer before the question it answers.
            received_at=self._batch_received,
        )
        await self._emit(msg)

    async def _emit(self, msg: InboundMessage) -> None:
        if self._sink is None:
            return
        await self._sink(msg)

    async def _choice_for_reaction(self, room_id: str, parsed: Parsed) -> str | None:
        index = keycap_index(parsed.reaction_key or "")
        if index is None:
            return None
        recent = await self._recent_choices(room_id)
        for entry in recent:
            if entry.get("event_id") == parsed.target_event_id:
                choices = entry.get("choices") or []
                return str(choices[index]) if index < len(choices) and choices[index] else None
        return None  # not one of the bot's recent questions

    async def _recent_choices(self, room_id: str) -> list[dict[str, Any]]:
        recent = self._choices.get(room_id)
        if recent is None:
            stored = await self.kv.get(f"choices:{room_id}")
            recent = [e for e in stored if isinstance(e, dict)] if isinstance(stored, list) else []
            self._choices[room_id] = recent
        return recent

    # ------------------------------------------------------------------ direct chats

    async def _on_membership(self, room: Any, source: dict[str, Any]) -> None:
        user = str(source.get("state_key", ""))
        membership = (source.get("content") or {}).get("membership")
        pending = None
        if membership == "join" and room.room_id in self._direct and user != self.user_id:
            pending = await self.kv.get(f"pending_dm:{room.room_id}")
        if isinstance(pending, dict) and pending.get("user") == user:
            await self.kv.delete(f"pending_dm:{room.room_id}")
            await self._emit(
                InboundMessage(
                    sender=UserRef(PLATFORM, user),
                    address=Address(PLATFORM, room.room_id),
                    message_id=f"{pending['event_id']}:dm",
                    kind=InboundKind.TEXT,
                    text=pending["text"],
                    is_private=True,
                    display_name=room.user_name(user),
                )
            )
        elif membership in ("invite", "join") and user != self.user_id:
            if not self._is_private(room):
                # Maybe a private chat that just gained a member: the core knows whose it was,
                # stops collecting answers there and says why.
                await self._emit(
                    InboundMessage(
                        sender=UserRef(PLATFORM, str(source.get("sender", user))),
                        address=Address(PLATFORM, room.room_id),
                        message_id=str(source.get("event_id", "")),
                        kind=InboundKind.SHARED,
                        is_private=False,
                    )
                )
        elif (
            membership == "leave"
            and room.room_id in self._direct
            and user != self.user_id
            and int(room.member_count) <= 1
        ):
            # The citizen left the direct chat: leave too, later sends become "unreachable".
            # (Someone else leaving a chat they had been invited into leaves it to the citizen.)
            log.info("matrix: a citizen left a direct chat; leaving it too")
            await self.client.room_leave(room.room_id)

    async def _existing_direct_chat(self, user_id: str) -> str | None:
        """A direct chat the bot already shares with this user (both joined), if any. Looked
        up in the rooms the client knows: nothing keyed by a user id is stored."""
        for room_id in sorted(self._direct):
            room = self.client.rooms.get(room_id)
            if room is None or int(room.member_count) != 2:
                continue
            member = room.users.get(user_id)
            if member is not None and not member.invited:
                return str(room_id)
        return None

    async def open_private_chat(
        self, user: UserRef, group: Address, campaign: str, message_id: str
    ) -> str | None:
        """A /start in a room, decided by the core: the direct chat where the citizen goes on."""
        del group
        link = self._offered.get(message_id)
        if link is None:
            link = await self._open_direct_chat(user.user_id, campaign, message_id)
            if link is not None:
                self._offered[message_id] = link
                while len(self._offered) > _OFFERS_KEPT:
                    self._offered.popitem(last=False)
        return link

    async def _open_direct_chat(self, user_id: str, slug: str, event_id: str) -> str | None:
        """``/start slug`` in a room: open an encrypted direct chat and start there once joined."""
        known = await self._existing_direct_chat(user_id)
        if known is not None:
            await self._emit(
                InboundMessage(
                    sender=UserRef(PLATFORM, user_id),
                    address=Address(PLATFORM, known),
                    message_id=f"{event_id}:dm",
                    kind=InboundKind.TEXT,
                    text=f"/start {slug}".strip(),
                    is_private=True,
                )
            )
            return matrix_link(known)
        resp = await self.client.room_create(
            is_direct=True,
            invite=[user_id],
            preset=RoomPreset.trusted_private_chat,
            initial_state=[
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
            ],
        )
        if not isinstance(resp, RoomCreateResponse):
            log.warning("matrix: could not open a direct chat: %s", _error(resp))
            return None
        room_id = str(resp.room_id)
        await self._mark_direct(room_id)
        # Until the citizen joins; about them, so /oublier (or the retention purge) erases it.
        await self.kv.set(
            f"pending_dm:{room_id}",
            {"user": user_id, "text": f"/start {slug}".strip(), "event_id": event_id},
            about=UserRef(PLATFORM, user_id),
        )
        return matrix_link(room_id)

    # ------------------------------------------------------------------ outbound

    def health(self) -> str | None:
        task = self._task
        if task is None or task.done():
            return "matrix sync stopped"
        if self._lease is None or not self._lease.held:
            return None  # another process syncs this account; this one stands by
        if not self._ready.is_set():
            return "matrix not synced yet (homeserver unreachable or logging in)"
        received = self._batch_received
        if received is not None and (self.clock() - received).total_seconds() > SYNC_SILENCE:
            return "matrix sync silent for over 2 minutes"
        return None

    def reachable_chats(self) -> frozenset[str] | None:
        # Only the process holding the account's sync has its crypto store and can send; the
        # others leave Matrix rows to it (the empty set claims nothing).
        return None if self._lease is not None and self._lease.held else frozenset()

    async def send(self, envelope: Envelope) -> None:
        if self._lease is None or not self._lease.held:
            raise RetryAfter(NOT_HOLDER_RETRY_SECONDS, "another process holds the Matrix sync")
        client = self.client
        if client is None:
            raise TransientDeliveryError("not connected to the homeserver yet")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), CONNECT_WAIT_SECONDS)
        if not self._ready.is_set():
            raise TransientDeliveryError("first sync not done yet")
        room_id = envelope.address.chat_id
        if room_id not in client.rooms:
            await self._join_for_sending(room_id)
        base = f"{self._txn_prefix}-{envelope.outbox_id}"
        message = envelope.message
        for index, part in enumerate(render(message, self.capabilities)):
            event_id = await send_event(client, room_id, part.content(), f"{base}-t{index}")
            if part.choice_ids:
                await self._remember_choices(room_id, event_id, part.choice_ids)
                if len(part.choice_ids) <= REACTION_CHOICES:
                    await self._offer_reactions(room_id, event_id, part.choice_ids, base)
        encrypted = bool(client.rooms[room_id].encrypted) if room_id in client.rooms else False
        for index, attachment in enumerate(message.attachments):
            content = await upload_attachment(client, attachment, encrypted)
            await send_event(client, room_id, content, f"{base}-a{index}")

    async def _offer_reactions(
        self, room_id: str, event_id: str, choice_ids: tuple[str, ...], base: str
    ) -> None:
        """Put 1️⃣ 2️⃣ … under a short question: the citizen answers with one click (only the
        numbers this message offers)."""
        for index, choice_id in enumerate(choice_ids):
            if not choice_id:
                continue
            content = {
                "m.relates_to": {
                    "rel_type": "m.annotation",
                    "event_id": event_id,
                    "key": KEYCAPS[index],
                }
            }
            await send_event(
                self.client, room_id, content, f"{base}-r{index}", event_type="m.reaction"
            )

    async def _join_for_sending(self, room_id: str) -> None:
        """A destination room (digests) the bot is not in yet: join it if it may."""
        try:
            resp = await self.client.join(room_id)
        except (ClientError, TimeoutError, OSError) as exc:
            raise TransientDeliveryError(f"join failed: {type(exc).__name__}") from exc
        if not isinstance(resp, JoinResponse):
            raise RecipientUnreachable(f"cannot join the room: {_error(resp)}")
        raise TransientDeliveryError("joined the room; sending after the next sync")

    async def _remember_choices(
        self, room_id: str, event_id: str, choice_ids: tuple[str, ...]
    ) -> None:
        recent = await self._recent_choices(room_id)
        if any(entry.get("event_id") == event_id for entry in recent):
            return  # a retried envelope: the homeserver gave back the same event
        recent.insert(0, {"event_id": event_id, "choices": list(choice_ids)})
        del recent[RECENT_QUESTIONS:]
        await self.kv.set(f"choices:{room_id}", recent, about=Address(PLATFORM, room_id))


def _sync_crashed(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.error("matrix: the sync loop failed; restarting it", exc_info=error)


def _waiting_for_database(error: DatabaseUnavailable, delay: float) -> None:
    log.warning(
        "matrix: cannot record the adapter's state yet (%s); retrying in %.1f s", error, delay
    )


def _error(resp: Any) -> str:
    """A nio error response without the ids nio puts in its text (room and user ids)."""
    code = getattr(resp, "status_code", None)
    return str(code) if code else type(resp).__name__


def build_adapter(config: Config, context: AdapterContext) -> Adapter | None:
    """Entry point: the adapter when ``[matrix]`` names a homeserver and an account."""
    matrix = config.matrix
    if not matrix.homeserver or not matrix.user_id:
        return None
    if matrix.password is None and matrix.access_token is None:
        raise ConfigError("[matrix] needs a password (QN_BOT_MATRIX_PASSWORD) or an access_token")
    return MatrixAdapter(matrix, context)


#: The entry point (pyproject.toml, group qn_bot.adapters): how to build the adapter, and what
#: it can do.
MatrixAdapterFactory = Platform(build_adapter, capabilities=CAPABILITIES)
