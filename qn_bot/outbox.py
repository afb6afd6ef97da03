"""The outbox worker: sends committed outbox rows through the adapters, in order per chat.

Rows are written in the same transaction as the state that caused them, so nothing is sent before
that transaction commits and nothing is lost if the process dies: a restarted worker finds the
rows still pending. Delivery is at-least-once (a crash between sending and marking sent resends
one message); adapters that can make sends idempotent (Matrix transaction ids) do so.

What the worker learnt about a message in hand (sent, or failed and when to retry) is recorded
even when the database cannot answer at that moment (SQLite locked by another program,
PostgreSQL restarting): the record is tried again until it commits (qn_bot.retrying). Given up,
the message would stay leased for the whole lease, holding back every later message to that
chat (a citizen's next replies among them), and would then be sent a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter

from qn_bot.clock import utcnow
from qn_bot.config import OutboxConfig, RetentionConfig
from qn_bot.domain import Address, Envelope, UserRef
from qn_bot.errors import (
    DatabaseUnavailable,
    PermanentDeliveryError,
    RecipientUnreachable,
    RetryAfter,
    TransientDeliveryError,
)
from qn_bot.group_commit import GroupCommit
from qn_bot.leadership import Leadership
from qn_bot.ops.metrics import Metrics
from qn_bot.ports import BOT_ROLE, Adapter, TranscriptNews, TranscriptRow, TranscriptWatcher
from qn_bot.records import OutboxRecord
from qn_bot.repositories import Database
from qn_bot.retrying import FIRST_WAIT, MAX_WAIT, until_available

log = logging.getLogger(__name__)

T = TypeVar("T")

LEASE = timedelta(seconds=60)
RECOVER_SECONDS = 2.0  # how often a worker looks for leases held by workers that died
IDLE_POLL_SECONDS = 1.0  # another process may have queued rows: look again this often
MIN_POLL_SECONDS = 0.01
#: Messages kept in one transaction for the platforms whose messages are transcript rows.
KEEP_BATCH = 1000


@dataclass(frozen=True, slots=True)
class _Ack:
    row: OutboxRecord
    delivered: bool  # False: the failure is already recorded, only claim what comes next
    claim_next: bool


def _role(owner: str) -> str:
    return f"outbox-worker:{owner}"


class OutboxWorker:
    def __init__(
        self,
        store: Database,
        adapters: Mapping[str, Adapter],
        *,
        config: OutboxConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 200,
        leadership: Leadership | None = None,
        retention: RetentionConfig | None = None,
        metrics: Metrics | None = None,
        on_kept: TranscriptWatcher | None = None,
    ) -> None:
        """``on_kept``: told of the transcript rows this worker kept (a platform whose
        capabilities say ``transcript``), once committed.

        ``leadership`` (several processes on PostgreSQL) lets this worker prove it is alive:
        it holds a lock named after itself, and names itself in its leases; a worker finding
        leases whose owner's lock is free releases them at once instead of after ``LEASE``."""
        self.store = store
        self.adapters = dict(adapters)
        self.config = config if config is not None else OutboxConfig()
        self.metrics = metrics
        retention = retention if retention is not None else RetentionConfig()
        # A sent message keeps its content only if the operator asked for it; else it goes in
        # the very update that marks it sent.
        self._keep_sent = retention.sent_payload_hours > 0
        self.clock = clock
        self.batch = batch
        # Platforms whose messages are rows of our own database (the web chat): delivered by
        # writing them, many chats in one transaction, with no lease, send or ack (_keep).
        self._kept = frozenset(
            name for name, adapter in self.adapters.items() if adapter.capabilities.transcript
        )
        self.on_kept = on_kept
        self._wake = asyncio.Event()
        self._notifications = 0  # notify() calls so far
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = asyncio.Event()
        self._semaphore = asyncio.Semaphore(self.config.concurrency)
        # Chats claimed and not yet sent: enough for the platforms' pace over ~2 s (Telegram:
        # 60) — what waits longer stays in the database, where it costs nothing — and never
        # fewer than can be sent at once.
        pace = sum(
            adapter.capabilities.messages_per_second
            for name, adapter in self.adapters.items()
            if name not in self._kept
        )
        self._max_in_flight = min(
            4 * self.config.concurrency, max(self.config.concurrency, math.ceil(2 * pace))
        )
        self._leadership = leadership
        # SQLite, once started: per platform, the chats whose dead leases were handed back
        # (None: all of them); claims go no further (see _release_dead_leases_on_sqlite).
        self._released: dict[str, frozenset[str] | None] | None = None
        self._releasing = asyncio.Lock()  # the claim loop and drain() may both get there
        # The claim loop's chats in flight, and whether it is claiming: drain() waits for them.
        self._chats: dict[Address, asyncio.Task[None]] = {}
        self._claiming = False
        self._owner: str | None = None
        self._alive: contextlib.AsyncExitStack | None = None
        self._next_recovery = 0.0
        self._acks: GroupCommit[_Ack, OutboxRecord | None] = GroupCommit(self._ack_batch)
        # Each platform's global pace; per-chat limits are the adapters' business, they know
        # their platform. One that paces itself (Telegram) is not paced twice.
        self._pace = {
            name: AsyncLimiter(adapter.capabilities.messages_per_second, 1.0)
            for name, adapter in self.adapters.items()
            if not adapter.capabilities.paces_itself
        }
        # aiolimiter's waiters each wake up every 1/rate s to look again: with a paced backlog
        # (100 chats waiting at 30 msg/s) that was ~3,000 wake-ups a second, most of the bot's
        # CPU. Waiting in line on a lock first leaves a single waiter polling.
        self._pace_line = {name: asyncio.Lock() for name in self.adapters}

    def _reach(self) -> dict[str, frozenset[str] | None]:
        """Asked at every pass: what an adapter can reach may change (a Matrix process that is
        not the account's sync holder reaches no one until it takes the role over)."""
        reach = {n: c for n, c in self._adapters_reach().items() if n not in self._kept}
        if self._released is None:
            return reach
        return {name: _within(chats, self._released.get(name)) for name, chats in reach.items()}

    def _adapters_reach(self) -> dict[str, frozenset[str] | None]:
        return {name: adapter.reachable_chats() for name, adapter in self.adapters.items()}

    async def _release_dead_leases_on_sqlite(self) -> None:
        """One `qn-bot run` per SQLite file (qn_bot.store.instance): a lease still held on a
        chat this worker reaches is a dead process's, and would hold that chat back for a whole
        lease after a crash. Handed back when this worker first reaches the chat — an adapter
        may reach nothing for a while after the start (Telegram until it first answered,
        Matrix until the sync is this process's) — and only then claimed: never a lease of
        this worker's own. Only the chats it reaches: a `qn-bot chat` beside the running bot
        reaches its own console, and must leave the bot's leases alone. (On PostgreSQL other
        workers may be alive: see _recover_dead_leases.)"""
        released = self._released
        if released is None:
            return
        async with self._releasing:
            fresh: dict[str, frozenset[str] | None] = {}
            for name, chats in self._adapters_reach().items():
                done = released.get(name, frozenset())
                if done is None:
                    continue
                if chats is None:
                    fresh[name] = None
                elif chats - done:
                    fresh[name] = chats - done
            if not fresh:
                return
            async with self.store.transaction() as tx:
                await tx.outbox.outbox_release_leases(fresh)
            for name, chats in fresh.items():
                done = released.get(name, frozenset())
                released[name] = None if chats is None or done is None else done | chats

    # ------------------------------------------------------------------ lifecycle

    def notify(self) -> None:
        """Called after a commit that queued messages: send them now, not at the next poll."""
        self._notifications += 1
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            if self._leadership is not None and self._alive is None:
                owner = uuid.uuid4().hex[:16]
                self._alive = contextlib.AsyncExitStack()
                await self._alive.enter_async_context(self._leadership.hold(_role(owner)))
                self._owner = owner
            if self.store.dialect == "sqlite":
                self._released = {}
                await self._release_dead_leases_on_sqlite()
            self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self, *, grace: float = 5.0) -> None:
        """Let the pass in progress finish (a cancelled transaction could keep SQLite's write
        lock until garbage collection), then stop; cancel only after ``grace`` seconds."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop_requested.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._stop_requested.clear()
            await self._release_own_leases()
            alive, self._alive, self._owner = self._alive, None, None
            if alive is not None:
                await alive.aclose()

    async def _release_own_leases(self) -> None:
        """Hand back what this worker claimed and did not send (a send cut short after the
        grace is among them: at least once): the next worker, in this process or another,
        takes it at once instead of after the lease."""
        if self._owner is None:
            return
        try:
            async with self.store.transaction() as tx:
                released = await tx.outbox.outbox_release_owner(self._owner)
        except Exception as exc:  # the leases then run out on their own (LEASE)
            log.warning("outbox: could not hand back this worker's leases (%s)", exc)
            return
        if released:
            log.info("outbox: handed back %d claimed messages not sent", released)

    async def __aenter__(self) -> OutboxWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        """Claim the heads of idle chats and give each chat a task that sends its messages one
        after another, claiming the next as soon as the previous is sent: a reply committed
        meanwhile never waits for other chats' slow sends."""
        chats = self._chats
        try:
            while not self._stop_requested.is_set():
                self._wake.clear()
                # Claim only what can be sent soon: a backlog (a broadcast, 100,000 reminders)
                # stays in the database instead of becoming one task per chat here, and no
                # lease runs out while its message waits for the platform's pace.
                room = min(self.batch, self._max_in_flight - len(chats))
                if room <= 0:
                    await self._wake.wait()  # a chat task ended
                    continue
                try:
                    await self._release_dead_leases_on_sqlite()
                    await self._recover_dead_leases()
                    kept = await self._keep()
                    reach = self._reach()
                    self._claiming = True
                    try:
                        rows: list[OutboxRecord] = []
                        if reach:
                            async with self.store.transaction() as tx:
                                rows = await tx.outbox.claim_outbox(
                                    self.clock(),
                                    limit=room,
                                    lease=LEASE,
                                    platforms=reach,
                                    skip_chats=list(chats),
                                    owner=self._owner,
                                )
                        for row in rows:
                            chats[row.address] = asyncio.create_task(
                                self._chat(row, chats), name=f"outbox-chat-{row.id}"
                            )
                    finally:
                        self._claiming = False
                    if len(rows) == room:
                        delay = 0.0
                    elif rows or kept:
                        # Busy: a chat task that ends wakes this loop when there may be
                        # something to claim (see _chat), and so does a commit that queued
                        # messages (notify); the pass that then finds nothing looks for rows
                        # due later.
                        delay = IDLE_POLL_SECONDS
                    else:
                        delay = await self._idle_delay(skip_chats=list(chats))
                except Exception:  # the database may be briefly unavailable: never die, retry
                    log.exception("outbox worker pass failed; retrying")
                    delay = IDLE_POLL_SECONDS
                if self._stop_requested.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    # A floor keeps a chat whose next message is due, but still in its own
                    # task, from making this loop spin.
                    await asyncio.wait_for(self._wake.wait(), timeout=max(delay, MIN_POLL_SECONDS))
        finally:
            if chats:
                await asyncio.gather(*chats.values(), return_exceptions=True)

    async def _chat(self, row: OutboxRecord, chats: dict[Address, asyncio.Task[None]]) -> None:
        address = row.address
        next_row: OutboxRecord | None = row
        wake = True
        notified = self._notifications
        delivered = True
        try:
            while next_row is not None and not self._stop_requested.is_set():
                delivered = await self._send(next_row)
                # A commit notified before the ack is visible to the ack's claim of this chat's
                # next message; one notified after it may have queued one the claim missed.
                notified = self._notifications
                # Stopping: the chat's next message stays in the database, unclaimed.
                claim_next = not self._stop_requested.is_set()
                next_row = await self._ack(_Ack(next_row, delivered, claim_next=claim_next))
            # Also after a failed send: its retry is due soon, and the loop's idle delay was
            # computed while this chat was in flight (left out).
            wake = (
                not delivered
                or self._notifications != notified
                or len(chats) >= self._max_in_flight
            )
        except Exception:
            log.exception("outbox: sending to a %s chat failed; retrying later", address.platform)
        finally:
            chats.pop(address, None)
            # The claim loop needs waking only if it may now find something: room it was
            # waiting for, a message queued meanwhile, a retry. Waking it after every send made it
            # claim ~3 times per message under Telegram's pace (most of the bot's CPU).
            if wake or self._stop_requested.is_set():
                self._wake.set()

    async def _ack(self, ack: _Ack) -> OutboxRecord | None:
        """Record ``ack`` (with other chats' in one transaction), however long the database
        takes to answer; returns the chat's next message, claimed, if asked to."""
        return await self._recorded(ack.row, lambda: self._acks.submit(ack))

    async def _recorded(self, row: OutboxRecord, record: Callable[[], Awaitable[T]]) -> T:
        """``record()`` (what became of ``row``) until the database takes it. Only this chat
        waits; the row stays leased to this worker meanwhile, so nobody sends it again."""

        def waiting(error: DatabaseUnavailable, delay: float) -> None:
            if self.metrics is not None:
                self.metrics.database_errors.labels("outbox").inc()
            log.warning(
                "outbox: what became of message %s (to a %s chat) cannot be recorded yet (%s); "
                "retrying in %.1f s",
                row.id,
                row.address.platform,
                error,
                delay,
            )

        return await until_available(record, waiting)

    async def _ack_batch(self, acks: Sequence[_Ack]) -> list[OutboxRecord | None]:
        """Record many chats' deliveries and claim each chat's next message, in one transaction
        (group commit): with a network round trip per send, per-message bookkeeping
        transactions kept the writer busy and held up the citizens' answers."""
        now = self.clock()
        reach = self._reach()
        wanted: dict[str, set[str]] = {}
        for ack in acks:
            platform, chat_id = ack.row.address.platform, ack.row.address.chat_id
            reachable = reach.get(platform, frozenset())
            if ack.claim_next and (reachable is None or chat_id in reachable):
                wanted.setdefault(platform, set()).add(chat_id)
        async with self.store.transaction() as tx:
            await tx.outbox.outbox_sent(
                [a.row.id for a in acks if a.delivered], now, keep_payload=self._keep_sent
            )
            claimed = (
                await tx.outbox.claim_outbox(
                    now,
                    limit=sum(len(chats) for chats in wanted.values()),
                    lease=LEASE,
                    platforms=wanted,
                    owner=self._owner,
                )
                if wanted
                else []
            )
        heads = {row.address: row for row in claimed}
        return [heads.get(a.row.address) if a.claim_next else None for a in acks]

    async def _recover_dead_leases(self) -> None:
        """Release the leases of workers whose liveness lock is free: their process died."""
        leadership, owner = self._leadership, self._owner
        loop = asyncio.get_running_loop()
        if leadership is None or owner is None or loop.time() < self._next_recovery:
            return
        self._next_recovery = loop.time() + RECOVER_SECONDS
        async with self.store.snapshot() as tx:
            others = await tx.outbox.outbox_lease_owners(self.clock(), besides=owner)
        for other in others:
            if await leadership.vacant(_role(other)):
                async with self.store.transaction() as tx:
                    released = await tx.outbox.outbox_release_owner(other)
                log.warning("released %d outbox leases of a worker that died", released)

    async def _idle_delay(self, *, skip_chats: list[Address]) -> float:
        # A read: the snapshot leaves the writer to the answers.
        reach = {**self._reach(), **dict.fromkeys(self._kept)}
        async with self.store.snapshot() as tx:
            due = await tx.outbox.next_outbox_due(reach, skip_chats=skip_chats)
        if due is None:
            return IDLE_POLL_SECONDS
        return max(0.0, min(IDLE_POLL_SECONDS, (due - self.clock()).total_seconds()))

    # ------------------------------------------------------------------ sending

    async def _keep(self) -> int:
        """Deliver what is due for the platforms whose messages are transcript rows: the rows
        written, the messages marked sent, in one transaction for every chat (exactly once:
        both commit or neither); then the watchers are told. Returns how many were taken."""
        taken = 0
        while self._kept:
            now = self.clock()
            news: list[TranscriptNews] = []
            # Urgent on SQLite: small, and the citizens' pages wait for it.
            async with self.store.transaction(urgent=True) as tx:
                rows = await tx.outbox.outbox_take_due(now, platforms=self._kept, limit=KEEP_BATCH)
                kept: list[tuple[OutboxRecord, dict[str, Any]]] = []
                for row in rows:
                    address = row.address
                    try:
                        body = self.adapters[address.platform].transcript_body(
                            address.chat_id, row.message
                        )
                    except Exception as exc:
                        log.error("message %s cannot be kept: %s", row.id, exc)
                        await tx.outbox.outbox_failed(
                            row.id, str(exc), keep_payload=self._keep_sent
                        )
                        continue
                    kept.append(
                        (
                            row,
                            {
                                "subject": str(UserRef(address.platform, address.chat_id)),
                                "role": BOT_ROLE,
                                "body": body,
                                # A message kept twice would be kept once: the outbox's id.
                                "client_id": f"o:{row.id}",
                                "created_at": now,
                            },
                        )
                    )
                ids = await tx.transcripts.append_many([values for _, values in kept])
                await tx.outbox.outbox_sent(
                    [row.id for row, _ in kept], now, keep_payload=self._keep_sent
                )
            for row, values in kept:
                given = ids.get((values["subject"], values["client_id"]))
                if given is not None:
                    person = UserRef(row.address.platform, row.address.chat_id)
                    kept_row = TranscriptRow(given, BOT_ROLE, values["body"], values["client_id"])
                    news.append(TranscriptNews(person, given, (kept_row,)))
                if self.metrics is not None:
                    self.metrics.sends.labels(row.address.platform, "sent").inc()
            if news and self.on_kept is not None:
                self.on_kept(news)
            taken += len(rows)
            if len(rows) < KEEP_BATCH:
                break
        return taken

    async def run_once(self) -> int:
        """Send the head message of every chat that has one due; returns how many were tried."""
        await self._release_dead_leases_on_sqlite()
        kept = await self._keep()
        reach = self._reach()
        if not reach:
            return kept
        now = self.clock()
        async with self.store.transaction() as tx:
            rows = await tx.outbox.claim_outbox(
                now, limit=self.batch, lease=LEASE, platforms=reach, owner=self._owner
            )
        if rows:
            delivered = await asyncio.gather(*(self._send(row) for row in rows))
            sent = [row for row, ok in zip(rows, delivered, strict=True) if ok]
            await asyncio.gather(*(self._ack(_Ack(r, True, claim_next=False)) for r in sent))
        return kept + len(rows)

    async def drain(self, *, within: float = 30.0) -> None:
        """Send until nothing is due (the console and tests wait for replies this way),
        including what the claim loop took meanwhile: its rows are leased, so they are not due,
        yet not sent either."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        wait = FIRST_WAIT
        while loop.time() < deadline:
            try:
                if await self._drained(deadline):
                    return
                wait = FIRST_WAIT
            except DatabaseUnavailable as exc:
                # Nothing was claimed (a failed claim is rolled back): look again later. The
                # console calls this after each line, and must not end the chat for it.
                log.warning("outbox: cannot look for messages to send (%s); retrying", exc)
                await asyncio.sleep(max(0.0, min(wait, deadline - loop.time())))
                wait = min(MAX_WAIT, wait * 2)

    async def _drained(self, deadline: float) -> bool:
        """One pass of :meth:`drain`; True once nothing is due."""
        loop = asyncio.get_running_loop()
        if await self.run_once() == 0:
            in_flight = [task for task in self._chats.values() if not task.done()]
            if in_flight:
                await asyncio.wait(in_flight, timeout=max(0.0, deadline - loop.time()))
                return False
            if self._claiming:
                await asyncio.sleep(0.01)
                return False
            async with self.store.snapshot() as tx:
                due = await tx.outbox.next_outbox_due(self._reach())
            if due is None or due > self.clock():
                return True
            await asyncio.sleep(0.01)
        return False

    async def _send(self, row: OutboxRecord) -> bool:
        """Try one message; True when delivered (the caller records it), failures recorded."""
        adapter = self.adapters[row.address.platform]
        envelope = Envelope(row.id, row.address, row.message, attempt=row.attempts + 1)
        try:
            async with self._semaphore:
                pace = self._pace.get(row.address.platform)
                if pace is not None:
                    async with self._pace_line[row.address.platform]:
                        await pace.acquire()
                await adapter.send(envelope)
        except Exception as exc:
            if isinstance(exc, RecipientUnreachable):
                log.info("recipient %s unreachable: %s", row.address.platform, exc)
            elif isinstance(exc, PermanentDeliveryError):
                log.error("message %s rejected for good: %s", row.id, exc)
            elif not isinstance(exc, RetryAfter | TransientDeliveryError):
                # A bug in an adapter must not stop the worker.
                log.exception("adapter %s failed to send message %s", row.address.platform, row.id)
            if self.metrics is not None:
                self.metrics.sends.labels(row.address.platform, _outcome(exc)).inc()
            # Outside the send slot: a database that cannot answer holds up this chat only.
            await self._recorded(row, functools.partial(self._failed, row, exc))
            return False
        if self.metrics is not None:
            self.metrics.sends.labels(row.address.platform, "sent").inc()
        return True

    async def _failed(self, row: OutboxRecord, exc: Exception) -> None:
        """Record a failed send: when to try again, or why never."""
        if isinstance(exc, RetryAfter):
            await self._retry(row, exc.seconds, str(exc), count_failure=False)
        elif isinstance(exc, RecipientUnreachable):
            async with self.store.transaction() as tx:
                await tx.participants.mark_unreachable(row.address, self.clock())
                await tx.outbox.outbox_failed(row.id, str(exc), keep_payload=self._keep_sent)
                await tx.outbox.outbox_fail_chat(
                    row.address, f"recipient unreachable: {exc}", keep_payload=self._keep_sent
                )
        elif isinstance(exc, PermanentDeliveryError):
            async with self.store.transaction() as tx:
                await tx.outbox.outbox_failed(row.id, str(exc), keep_payload=self._keep_sent)
        elif isinstance(exc, TransientDeliveryError):
            await self._retry(row, self._backoff(row.attempts), str(exc))
        else:
            await self._retry(row, self._backoff(row.attempts), f"{type(exc).__name__}: {exc}")

    def _backoff(self, attempts: int) -> float:
        base = self.config.backoff_base_seconds * (2**attempts)
        # Full jitter keeps many failing chats from retrying in lockstep.
        return float(min(self.config.backoff_max_seconds, base) * (0.5 + random.random() / 2))  # noqa: S311

    async def _retry(
        self, row: OutboxRecord, delay: float, error: str, *, count_failure: bool = True
    ) -> None:
        async with self.store.transaction() as tx:
            if count_failure and row.attempts + 1 >= self.config.max_attempts:
                log.error(
                    "giving up on message %s after %d attempts: %s", row.id, row.attempts + 1, error
                )
                await tx.outbox.outbox_failed(row.id, error, keep_payload=self._keep_sent)
            else:
                await tx.outbox.outbox_retry(
                    row.id,
                    self.clock() + timedelta(seconds=delay),
                    error,
                    failed_attempt=count_failure,
                )


def _within(chats: frozenset[str] | None, limit: frozenset[str] | None) -> frozenset[str] | None:
    """The chats of ``chats`` that are also in ``limit`` (None: every chat)."""
    if chats is None:
        return limit
    return chats if limit is None else chats & limit


def _outcome(exc: Exception) -> str:
    """A failed send as the sends counter names it."""
    if isinstance(exc, RetryAfter):
        return "rate_limited"  # Telegram's 429, Matrix's M_LIMIT_EXCEEDED
    if isinstance(exc, RecipientUnreachable):
        return "unreachable"
    if isinstance(exc, PermanentDeliveryError):
        return "failed"
    return "retry"
