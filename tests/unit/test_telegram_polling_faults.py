"""How the getUpdates poller meets the faults the Bot API emulator cannot produce on demand
(a flood reply, a conflict, a malformed answer on getUpdates itself, a database failure under
the journal): the waits, what ends polling, and cancellation.

The bot is a stand-in (only ``do_api_request``), and sleeping is recorded instead of done.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from qn_bot.adapters.telegram import receiving
from qn_bot.adapters.telegram.receiving import JOURNAL_KEY, Poller
from telegram import error as tg


class Bot:
    """Answers getUpdates from a script: an exception to raise, or a list of updates; then
    blocks as a long poll with nothing new would."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.calls = 0

    async def do_api_request(self, method: str, **_: Any) -> Any:
        assert method == "getupdates"
        self.calls += 1
        if not self.script:
            await asyncio.Event().wait()
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


class KV:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.data: dict[str, Any] = {}

    async def get(self, key: str) -> Any:
        return self.data.get(key)

    async def set(self, key: str, value: Any, **_: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("database away")
        self.data[key] = value


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float, *args: Any) -> Any:
        slept.append(delay)
        return await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)  # the poller's and tenacity's
    return slept


def processed(handled: list[dict[str, Any]]) -> receiving.Process:
    def process(update: dict[str, Any]) -> asyncio.Future[None]:
        handled.append(update)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    return process


async def poll_until(poller: Poller, done: Any) -> asyncio.Task[None]:
    task = asyncio.create_task(poller.run())
    for _ in range(1000):
        if done():
            return task
        await asyncio.sleep(0)
    task.cancel()
    raise AssertionError("the poller never got there")


async def test_flood_replies_wait_what_telegram_asks_and_other_failures_back_off(
    waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    bot = Bot(
        [
            tg.RetryAfter(7),
            tg.NetworkError("down"),
            tg.RetryAfter(3),
            tg.Conflict("terminated by other getUpdates request"),
            ValueError("malformed"),
            tg.TimedOut(),
            [{"update_id": 5, "message": {"text": "salut"}}],
            tg.NetworkError("down again"),
        ]
    )
    handled: list[dict[str, Any]] = []
    kv = KV()
    poller = Poller(bot, kv, processed(handled), flush=0.0)  # type: ignore[arg-type]
    task = await poll_until(poller, lambda: bot.calls == 9)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Flood waits are Telegram's and do not lengthen the backoff; a success starts it again.
    assert [w for w in waits if w > 0] == [7.0, 1.0, 3.0, 2.0, 4.0, 8.0, 1.0]
    assert [u["update_id"] for u in handled] == [5]
    assert kv.data[JOURNAL_KEY]["offset"] == 6
    assert "another getUpdates or a webhook is active" in caplog.text
    assert "getUpdates failed unexpectedly" in caplog.text


async def test_a_refused_token_ends_polling(waits: list[float]) -> None:
    poller = Poller(Bot([tg.NetworkError("down"), tg.InvalidToken()]), KV(), processed([]))  # type: ignore[arg-type]
    with pytest.raises(tg.InvalidToken):
        await poller.run()


async def test_the_journal_is_written_whatever_fails_before(waits: list[float]) -> None:
    bot = Bot([[{"update_id": 1, "message": {"text": "a"}}]])
    kv = KV(failures=3)

    def unfinished(update: dict[str, Any]) -> asyncio.Future[None]:
        return asyncio.get_running_loop().create_future()  # still being handled: no flush

    poller = Poller(bot, kv, unfinished)  # type: ignore[arg-type]
    task = await poll_until(poller, lambda: JOURNAL_KEY in kv.data)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [w for w in waits if w > 0] == [0.5, 1.0, 2.0]
    assert kv.data[JOURNAL_KEY]["offset"] == 2
    assert [u["update_id"] for u in kv.data[JOURNAL_KEY]["pending"]] == [1]
