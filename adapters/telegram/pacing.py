"""Telegram's sending limits: about 30 messages/s per bot, 1/s per chat, 20/min per group.

Leaky buckets (aiolimiter): a private chat may get a short burst (a reply and the next question)
but averages one message a second; the bot as a whole gets no burst (evenly spaced sends). A 429
from Telegram pauses every send of the bot until its ``retry_after`` has passed.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

MAX_TRACKED_CHATS = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    per_bot_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    chat_burst: int = 3
    per_group_per_minute: float = 20.0


class Pacer:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits if limits is not None else Limits()
        # No burst for the whole bot: a bucket that holds N messages lets N + 30 through in
        # the first second of a broadcast (measured: 54 reached the Bot API in one second,
        # which Telegram answers with 429). One message per 1/30 s keeps every second ≤ 30.
        self._bot = AsyncLimiter(1, 1 / self.limits.per_bot_per_second)
        self._chats: OrderedDict[str, AsyncLimiter] = OrderedDict()
        self._resume_at = 0.0

    def _chat(self, chat_id: str) -> AsyncLimiter:
        limiter = self._chats.get(chat_id)
        if limiter is None:
            if chat_id.startswith("-"):  # groups, supergroups and channels have negative ids
                limiter = AsyncLimiter(self.limits.per_group_per_minute, 60)
            else:
                burst = self.limits.chat_burst
                limiter = AsyncLimiter(burst, burst / self.limits.per_chat_per_second)
            self._chats[chat_id] = limiter
            while len(self._chats) > MAX_TRACKED_CHATS:
                self._chats.popitem(last=False)
        else:
            self._chats.move_to_end(chat_id)
        return limiter

    def pause(self, seconds: float) -> None:
        """Telegram said 429: hold every send until then."""
        self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    async def wait(self, chat_id: str) -> None:
        """Return when one more message may go to ``chat_id``."""
        await self._chat(chat_id).acquire()
        delay = self._resume_at - time.monotonic()
        while delay > 0:  # a 429 may come in while waiting: look again
            await asyncio.sleep(delay)
            delay = self._resume_at - time.monotonic()
        await self._bot.acquire()
