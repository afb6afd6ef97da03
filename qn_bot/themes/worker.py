"""The background embedding worker: embeds new and edited free-text items in batches, off the
message path (the chat never waits for it), and forgets the vectors of deleted items.

Started by `qn-bot run` (:class:`qn_bot.app.Application`), one task, cancelled on stop; with
several processes on one database, only the one holding :data:`ROLE` embeds (a role like the
Telegram poller's: advisory lock on PostgreSQL, taken over when its holder dies). It polls:
nothing on the message path tells it about new items, so ingestion does nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from qn_bot.leadership import Granted, Leadership, Lease, run_exclusively
from qn_bot.records import ItemVector
from qn_bot.repositories import Database
from qn_bot.themes.embedding import Embedder, load_embedder, quantise
from qn_bot.themes.label import LABEL_PEOPLE

log = logging.getLogger(__name__)

#: Items embedded per model call and per write transaction.
BATCH = 64
#: Seconds between rounds when there was nothing to do.
IDLE = 30.0
#: Processes sharing a database embed in one of them only: the one holding this role.
ROLE = "embedding-worker"


class EmbeddingWorker:
    def __init__(
        self,
        db: Database,
        *,
        loader: Callable[[], Embedder | None] = load_embedder,
        idle: float = IDLE,
        batch: int = BATCH,
        leadership: Leadership | None = None,
    ) -> None:
        self._db = db
        self._leadership = leadership if leadership is not None else Granted()
        self._loader = loader
        self._idle = idle
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.embedded = 0  # items embedded since start (tests, logs)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="qn-bot embedding worker")

    def notify(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        await run_exclusively(self._leadership, ROLE, self._work)

    async def _work(self, lease: Lease) -> None:
        # Loading the model takes a moment and some memory: in a thread, once.
        embedder = await asyncio.to_thread(self._loader)
        if embedder is None:
            log.info("embedding worker: no model installed; themes use TF-IDF")
            return
        log.info("embedding worker started (model %s)", embedder.name)
        while True:
            try:
                done = await self.round(embedder)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("embedding worker: a round failed; trying again later")
                done = 0
            if done:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._idle)

    async def round(self, embedder: Embedder) -> int:
        """One batch of one campaign; how many items were embedded (0: nothing to do)."""
        from qn_bot.voting import statement_steps

        async with self._db.transaction() as tx:
            dropped = await tx.vectors.drop_deleted_vectors()
            # Kept weekly labels go with their citizens' words too (made again when read).
            blanked = await tx.theme_history.drop_stale_labels(LABEL_PEOPLE)
            campaigns = await tx.campaigns.campaigns()
        if dropped:
            log.info("embedding worker: forgot %d vectors of deleted items", dropped)
        if blanked:
            log.info("embedding worker: forgot %d theme labels of erased words", blanked)
        for campaign in campaigns:
            steps = statement_steps(campaign)
            if not steps:
                continue
            async with self._db.snapshot() as tx:
                todo = await tx.vectors.to_embed(campaign.id, steps, embedder.name, self._batch)
            if not todo:
                continue
            vectors = await asyncio.to_thread(embedder.embed, [i.text for i in todo])
            async with self._db.transaction() as tx:
                await tx.vectors.save_vectors(
                    [
                        ItemVector(
                            i.item_id,
                            i.campaign_id,
                            i.step_id,
                            i.revision,
                            embedder.name,
                            quantise(v),
                        )
                        for i, v in zip(todo, vectors, strict=True)
                    ]
                )
            self.embedded += len(todo)
            log.info(
                "embedding worker: embedded %d items of %s",
                len(todo),
                campaign.slug,
                extra={"campaign": campaign.slug},
            )
            return len(todo)
        return 0
