"""GroupCommit: batches grow with the load, each caller gets its own outcome, none is stranded."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from qn_bot.group_commit import BatchInterrupted, GroupCommit


class Recorder:
    """A batch handler that records its batches and can be held on a gate."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()

    async def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        self.entered.set()
        await self.gate.wait()
        return [ValueError(f"bad {n}") if n < 0 else n * 10 for n in items]


async def test_a_lone_request_is_a_batch_of_one() -> None:
    handler = Recorder()
    commit: GroupCommit[int, int] = GroupCommit(handler)
    assert await commit.submit(4) == 40
    assert handler.batches == [[4]]


async def test_requests_that_arrive_during_a_batch_share_the_next_one() -> None:
    handler = Recorder()
    handler.gate.clear()
    commit: GroupCommit[int, int] = GroupCommit(handler)
    first = asyncio.create_task(commit.submit(0))
    await handler.entered.wait()
    rest = [asyncio.create_task(commit.submit(n)) for n in range(1, 51)]
    await asyncio.sleep(0)
    handler.gate.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [n * 10 for n in range(1, 51)]
    assert handler.batches == [[0], list(range(1, 51))]


async def test_batches_are_capped() -> None:
    handler = Recorder()
    handler.gate.clear()
    commit: GroupCommit[int, int] = GroupCommit(handler, max_batch=10)
    first = asyncio.create_task(commit.submit(0))
    await handler.entered.wait()
    rest = [asyncio.create_task(commit.submit(n)) for n in range(1, 26)]
    await asyncio.sleep(0)
    handler.gate.set()
    await asyncio.gather(first, *rest)
    assert [len(b) for b in handler.batches] == [1, 10, 10, 5]
    assert sorted(n for b in handler.batches for n in b) == list(range(26))


async def test_one_failing_request_fails_alone() -> None:
    handler = Recorder()
    handler.gate.clear()
    commit: GroupCommit[int, int] = GroupCommit(handler)
    first = asyncio.create_task(commit.submit(0))
    await handler.entered.wait()
    good, bad = asyncio.create_task(commit.submit(1)), asyncio.create_task(commit.submit(-1))
    await asyncio.sleep(0)
    handler.gate.set()
    assert (await first, await good) == (0, 10)
    with pytest.raises(ValueError, match="bad -1"):
        await bad


async def test_a_handler_that_raises_fails_its_batch_and_the_next_batch_runs() -> None:
    calls = 0

    async def flaky(items: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return list(items)

    commit: GroupCommit[int, int] = GroupCommit(flaky)
    with pytest.raises(RuntimeError, match="database down"):
        await commit.submit(1)
    assert await commit.submit(2) == 2


async def test_a_leader_cancelled_mid_batch_strands_nobody() -> None:
    handler = Recorder()
    handler.gate.clear()
    commit: GroupCommit[int, int] = GroupCommit(handler)
    leader = asyncio.create_task(commit.submit(0))
    await handler.entered.wait()
    waiting = asyncio.create_task(commit.submit(1))  # queued behind the leader's batch
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    handler.gate.set()
    # The waiter was handed the lead and ran its own batch.
    assert await asyncio.wait_for(waiting, 1) == 10
    assert handler.batches == [[0], [1]]


async def test_requests_in_a_cancelled_leaders_batch_are_told_so() -> None:
    release = asyncio.Event()
    started = asyncio.Event()
    first_entered, first_gate = asyncio.Event(), asyncio.Event()

    async def slow(items: Sequence[int]) -> list[int | BaseException]:
        if 0 in items:
            first_entered.set()
            await first_gate.wait()
        if 1 in items:  # the second batch waits until the test has cancelled its leader
            started.set()
            await release.wait()
        return list(items)

    commit: GroupCommit[int, int] = GroupCommit(slow)
    first = asyncio.create_task(commit.submit(0))
    await first_entered.wait()
    queued = [asyncio.create_task(commit.submit(n)) for n in (1, 2)]
    await asyncio.sleep(0)
    first_gate.set()
    assert await first == 0
    await started.wait()  # batch [1, 2] runs in the task of request 1, its leader
    queued[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued[0]
    with pytest.raises(BatchInterrupted):
        await queued[1]
    release.set()
    assert await asyncio.wait_for(commit.submit(3), 1) == 3


async def test_a_waiter_cancelled_in_the_queue_is_skipped() -> None:
    handler = Recorder()
    handler.gate.clear()
    commit: GroupCommit[int, int] = GroupCommit(handler)
    first = asyncio.create_task(commit.submit(0))
    await handler.entered.wait()
    gone = asyncio.create_task(commit.submit(1))
    stays = asyncio.create_task(commit.submit(2))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    handler.gate.set()
    assert await asyncio.wait_for(stays, 1) == 20
    await first
    assert handler.batches == [[0], [2]]


async def test_a_waiter_cancelled_just_after_being_given_the_lead_passes_it_on() -> None:
    heirs: list[asyncio.Task[int]] = []
    batches: list[list[int]] = []
    entered = asyncio.Event()
    gate = asyncio.Event()

    async def handler(items: Sequence[int]) -> list[int | BaseException]:
        batches.append(list(items))
        if items[0] == 0:
            entered.set()
            await gate.wait()
            # Runs after this batch handed the lead to request 1, before its task wakes up.
            asyncio.get_running_loop().call_soon(heirs[0].cancel)
        return list(items)

    commit: GroupCommit[int, int] = GroupCommit(handler)
    first = asyncio.create_task(commit.submit(0))
    await entered.wait()
    heirs.append(asyncio.create_task(commit.submit(1)))
    other = asyncio.create_task(commit.submit(2))
    await asyncio.sleep(0)
    gate.set()
    assert await first == 0
    with pytest.raises(asyncio.CancelledError):
        await heirs[0]
    assert await asyncio.wait_for(other, 1) == 2
    assert batches == [[0], [2]]
