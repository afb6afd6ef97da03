"""The sync loop: long-poll /sync, hand each response to the adapter, then save the token.

- The token is saved in our database only *after* the response's events were handled, so a crash
  replays them (the core deduplicates on event ids) instead of losing them.
- Resuming from a saved token uses ``full_state=True`` (matrix-nio#525: ``since`` alone leaves
  room state empty in a fresh client).
- No nio callbacks are used (an exception in one ends nio's ``sync_forever``); any failure here is
  logged and the loop goes on, with a backoff capped at a few seconds while the homeserver is away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientError
from nio import SyncError, SyncResponse
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from qn_bot.ports import KeyValue

log = logging.getLogger(__name__)

TOKEN_KEY = "sync_token"  # noqa: S105 - the /sync position, not a secret
LONG_POLL_MS = 30_000
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 3.0
#: More timeline per room than Synapse's default 10, so a restart after a burst loses nothing;
#: presence is useless to the bot.
SYNC_FILTER: dict[str, Any] = {
    "room": {"timeline": {"limit": 100}, "state": {"lazy_load_members": False}},
    "presence": {"not_types": ["*"]},
}

#: Called with each sync response and whether it is the very first one of this bot ever.
SyncHandler = Callable[[Any, bool], Awaitable[None]]


class LoggedOut(Exception):
    """The homeserver no longer accepts the access token (M_UNKNOWN_TOKEN): log in again."""


class SyncLoop:
    def __init__(self, client: Any, kv: KeyValue, handler: SyncHandler) -> None:
        self.client = client
        self.kv = kv
        self.handler = handler
        self.synced = asyncio.Event()  # set after the first handled response
        self.failures = 0
        self._stopping = asyncio.Event()
        self._polling: asyncio.Future[SyncResponse] | None = None

    def stop(self) -> None:
        """End :meth:`run` after the response being handled, if any (its token is saved); a
        /sync still waiting is cut short: its events come again to the next process."""
        self._stopping.set()
        if self._polling is not None:
            self._polling.cancel()

    async def run(self) -> None:
        token: str | None = await self.kv.get(TOKEN_KEY)
        fresh = token is None
        first = True
        while not self._stopping.is_set():
            self._polling = asyncio.ensure_future(self._patient_sync(token, first))
            try:
                resp = await self._polling
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self._stopping.is_set() and (task is None or not task.cancelling()):
                    return  # stop() cut the /sync short, nobody cancelled run()
                raise
            finally:
                self._polling = None
            if self.failures:
                log.info("matrix: homeserver reachable again after %d failures", self.failures)
            self.failures = 0
            try:
                await self.handler(resp, fresh and first)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad event stop the sync
                log.exception("matrix: handling a sync response failed")
            token = str(resp.next_batch)
            try:
                await self.kv.set(TOKEN_KEY, token)
            except Exception:
                log.exception("matrix: could not save the sync token")
            first = False
            self.synced.set()
            await self.housekeeping()

    async def housekeeping(self) -> None:
        """What nio's sync_forever does between syncs: keep the E2EE keys flowing."""
        client = self.client
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("to-device", client.send_to_device_messages),
        ]
        if client.should_upload_keys:
            steps.append(("keys upload", client.keys_upload))
        if client.should_query_keys:
            steps.append(("keys query", client.keys_query))
        if client.should_claim_keys:
            steps.append(
                ("keys claim", lambda: client.keys_claim(client.get_users_for_key_claiming()))
            )
        for name, step in steps:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("matrix: %s failed: %s", name, type(exc).__name__)

    async def _patient_sync(self, token: str | None, first: bool) -> SyncResponse:
        """/sync until it answers, waiting 0.5, 1, 2, 3, 3 … s between tries (``failures``
        counts them); a rejected token raises :class:`LoggedOut`, cancellation ends it."""

        async def sync() -> SyncResponse:
            try:
                resp = await self.client.sync(
                    timeout=0 if first else LONG_POLL_MS,
                    sync_filter=SYNC_FILTER,
                    since=token,
                    full_state=True if first and token else None,
                )
            except (ClientError, TimeoutError, OSError) as exc:
                raise _SyncFailed(f"homeserver unreachable: {type(exc).__name__}: {exc}") from exc
            except Exception as exc:
                log.exception("matrix sync failed")
                raise _SyncFailed("unexpected error") from exc
            if isinstance(resp, SyncError) and resp.status_code == "M_UNKNOWN_TOKEN":
                raise LoggedOut(str(resp.message))
            if isinstance(resp, SyncError) or not isinstance(resp, SyncResponse):
                raise _SyncFailed(f"sync error: {resp}")
            return resp

        def failed(state: RetryCallState) -> None:
            self.failures += 1
            error = state.outcome.exception() if state.outcome is not None else None
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning("matrix: %s; retrying in %.1fs", error, delay)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_SyncFailed),
            wait=wait_exponential(multiplier=BACKOFF_FIRST, max=BACKOFF_CAP),
            before_sleep=failed,
            reraise=True,
        )
        resp: SyncResponse = await retrying(sync)
        return resp


class _SyncFailed(Exception):
    """One /sync that did not answer; its message says why (no ids in it)."""
