"""Telegram's sending limits: about 30 messages/s per bot, 1/s per chat, 20/min per group.

Leaky buckets (aiolimiter): a private chat may get a short burst (a reply and the next question)
but averages one message a second. The bot as a whole sends at most its rate in any one-second
window. A 429 from Telegram pauses every send of the bot until its ``retry_after`` has passed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

MAX_TRACKED_CHATS = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    per_bot_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    chat_burst: int = 3
    per_group_per_minute: float = 20.0


class SlidingWindow:
    """At most ``rate`` messages in any one-second window, first come first served.

    Not a leaky bucket: one that holds N messages lets N + 30 through in the first second of a
    broadcast (measured: 54 reached the Bot API in one second, which Telegram answers with
    429), and one that holds a single message loses every slot a late wake-up misses (27
    messages/s measured on a busy machine). A window lets a late send catch up, at most twice
    as fast as the rate, and keeps ``headroom`` messages of each second in hand: Telegram counts
    what reaches it, and the network bunches some sends (a full window measured 39 arrivals in
    one second).
    """

    def __init__(self, rate: float, *, headroom: int = 1) -> None:
        size = math.floor(rate)
        self.size = size - headroom if size > 2 * headroom else max(1, size)
        self.period = 1.0 if size >= 1 else 1.0 / rate  # below 1/s: one message per period
        self.gap = self.period / self.size / 2  # catching up: never faster than twice the rate
        self._sent: deque[float] = deque()
        self._turn = asyncio.Lock()  # FIFO: waiting senders keep their order

    async def acquire(self) -> None:
        async with self._turn:
            while True:
                now = time.monotonic()
                while self._sent and self._sent[0] + self.period <= now:
                    self._sent.popleft()
                wait = self._sent[-1] + self.gap - now if self._sent else 0.0
                if len(self._sent) >= self.size:
                    wait = max(wait, self._sent[0] + self.period - now)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self._sent.append(time.monotonic())


class Pacer:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits if limits is not None else Limits()
        self._bot = SlidingWindow(self.limits.per_bot_per_second)
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
