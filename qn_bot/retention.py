"""Retention: what the bot no longer needs leaves the database (``[retention]`` of the config).

The running bot's scheduler calls :func:`purge` every ``purge_every_minutes``. Every step is a
plain "delete (or empty) what is older than" in bounded transactions: running it twice, or in
two processes on one PostgreSQL at once, does the work once and no harm — no claim needed.

- Sent (or given up) messages keep their content ``sent_payload_hours`` (0: it goes at once,
  when the message is marked sent, see `SqlOutbox.outbox_sent`); their rows go
  after ``outbox_days``, except those whose dedupe key makes a send exactly-once.
- Keys of received messages go after ``processed_keys_days``: long enough that no platform can
  still redeliver the message (see :class:`qn_bot.config.RetentionConfig`).
- Adapter state about one person goes after ``adapter_state_days`` without change.
- SQLite: the free pages go back to the file system and the WAL is truncated, so the file
  shrinks and what was purged does not linger in it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from qn_bot.config import RetentionConfig
from qn_bot.repositories import CompactedDatabase, Transaction

log = logging.getLogger(__name__)

#: Rows per transaction: a first purge after months must not hold SQLite's writer for long.
CHUNK = 500


@dataclass(frozen=True, slots=True)
class Purged:
    sent_payloads: int = 0
    outbox_rows: int = 0
    message_keys: int = 0
    adapter_state: int = 0
    pages: int = 0  # SQLite pages given back to the file system

    @property
    def rows(self) -> int:
        return self.sent_payloads + self.outbox_rows + self.message_keys + self.adapter_state


async def purge(store: CompactedDatabase, retention: RetentionConfig, now: datetime) -> Purged:
    sent_before = now - timedelta(hours=retention.sent_payload_hours)
    rows_before = now - timedelta(days=retention.outbox_days)
    keys_before = now - timedelta(days=retention.processed_keys_days)
    payloads = await _chunked(
        store, lambda tx: tx.outbox.purge_sent_payloads(sent_before, limit=CHUNK)
    )
    rows = await _chunked(store, lambda tx: tx.outbox.purge_outbox_rows(rows_before, limit=CHUNK))
    keys = await _chunked(
        store, lambda tx: tx.idempotency.purge_message_keys(keys_before, limit=CHUNK)
    )
    async with store.transaction() as tx:
        state = await tx.kv.purge_adapter_state(now - timedelta(days=retention.adapter_state_days))
        state += await tx.transcripts.purge_transcripts(
            now - timedelta(days=retention.adapter_state_days)
        )
    pages = 0
    if payloads or rows or keys or state:
        pages = await store.release_free_pages()
        store.scrub()
    purged = Purged(payloads, rows, keys, state, pages)
    if purged.rows:
        log.info(
            "retention: %d sent payloads emptied, %d outbox rows, %d message keys and %d "
            "adapter entries deleted, %d pages freed",
            payloads,
            rows,
            keys,
            state,
            pages,
        )
    return purged


async def _chunked(store: CompactedDatabase, step: Callable[[Transaction], Awaitable[int]]) -> int:
    """Run ``step`` (which handles at most CHUNK rows) in transactions until it is done."""
    total = 0
    while True:
        async with store.transaction() as tx:
            done = await step(tx)
        total += done
        if done < CHUNK:
            return total
