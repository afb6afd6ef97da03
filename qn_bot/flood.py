"""Per-citizen flood limits: a leaky bucket per sender, in the memory of one bot process.

Every message a citizen sends fills their bucket by one; it drains at the sustained rate
(``messages_per_window / window_seconds``). A message that would overflow it is refused, and
refused messages fill it too (up to twice its size): the citizen is read again once the rate
they *send* at drops, not as soon as one message's worth has drained — a flood never slips
through at the drain rate. The first refusal of a flood is the one to explain (``WARN``);
later ones are silent (``REFUSE``) until a message gets through again.

Why in memory and per process: a check must cost nothing on the hot path (no database round
trip per message), and one process reads all of a citizen's messages anyway — one Telegram
poller per bot token, one Matrix sync per account. Behind a load balancer in Telegram webhook
mode each process counts the share it receives (README: "Flood limits").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: Buckets kept before the idle ones (drained empty) are forgotten.
PRUNE_FROM = 4096


class Verdict(enum.Enum):
    ACCEPT = "accept"
    WARN = "warn"  # refused, the first refusal of this flood: say why, once
    REFUSE = "refuse"  # refused again while the flood goes on: silence


@dataclass(slots=True)
class _Bucket:
    level: float
    at: float
    warned: bool = False


class FloodGate:
    def __init__(self, messages_per_window: int, window_seconds: float) -> None:
        if messages_per_window < 1 or window_seconds <= 0:
            raise ValueError("a flood limit needs at least one message per positive window")
        self.capacity = float(messages_per_window)
        self.rate = messages_per_window / window_seconds  # drained per second
        self._buckets: dict[str, _Bucket] = {}
        self._prune_at = PRUNE_FROM

    def check(self, sender: str, now: float) -> Verdict:
        """Count one message from ``sender`` at ``now`` (seconds, any fixed origin)."""
        bucket = self._buckets.get(sender)
        if bucket is None:
            if len(self._buckets) >= self._prune_at:
                self._prune(now)
            self._buckets[sender] = _Bucket(1.0, now)
            return Verdict.ACCEPT
        # max(): a clock set back (NTP) must not fill the bucket.
        bucket.level = max(0.0, bucket.level - max(0.0, now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.level + 1.0 <= self.capacity:
            bucket.level += 1.0
            bucket.warned = False
            return Verdict.ACCEPT
        bucket.level = min(bucket.level + 1.0, 2.0 * self.capacity)
        if bucket.warned:
            return Verdict.REFUSE
        bucket.warned = True
        return Verdict.WARN

    def _prune(self, now: float) -> None:
        """Forget the buckets that drained empty: they would accept the next message anyway."""
        self._buckets = {
            sender: bucket
            for sender, bucket in self._buckets.items()
            if bucket.level - (now - bucket.at) * self.rate > 0.0
        }
        # Amortised: the next pruning waits until the map has doubled again.
        self._prune_at = max(PRUNE_FROM, 2 * len(self._buckets))

    def __len__(self) -> int:
        return len(self._buckets)
