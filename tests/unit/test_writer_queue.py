"""SQLite's writers take turns: in arrival order, urgent ones first, cancellation-safe."""

from __future__ import annotations

import asyncio

import pytest

from qn_bot.store.writer_queue import WriterQueue


async def test_one_writer_at_a_time_in_order_with_urgent_ones_first() -> None:
    queue = WriterQueue()
    order: list[str] = []
    holding = 0
    release = asyncio.Event()

    async def writer(name: str, *, urgent: bool = False, first: bool = False) -> None:
        nonlocal holding
        async with queue.turn(urgent=urgent):
            holding += 1
            assert holding == 1
            order.append(name)
            if first:
                await release.wait()
            await asyncio.sleep(0)
            holding -= 1

    tasks = [asyncio.create_task(writer("a", first=True))]
    await asyncio.sleep(0)
    for name, urgent in (("b", False), ("c", False), ("journal", True), ("d", False)):
        tasks.append(asyncio.create_task(writer(name, urgent=urgent)))
        await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "journal", "b", "c", "d"]


async def three_writers(
    cancel: str, *, after_hand_over: bool
) -> tuple[WriterQueue, list[str], asyncio.Task[None]]:
    """ "first" holds the queue, two writers wait; one of them is cancelled — while it waits, or
    just after "first" handed it the turn. Returns once the others are done."""
    queue = WriterQueue()
    release = asyncio.Event()
    done: list[str] = []

    async def writer(name: str, hold: asyncio.Event | None = None) -> None:
        async with queue.turn():
            if hold is not None:
                await hold.wait()
            done.append(name)

    first = asyncio.create_task(writer("first", release))
    await asyncio.sleep(0)
    waiting = {name: asyncio.create_task(writer(name)) for name in ("second", "third")}
    await asyncio.sleep(0)
    if after_hand_over:
        release.set()
        await asyncio.sleep(0)  # "first" ends and hands its turn to "second"…
        waiting[cancel].cancel()  # …which is cancelled before it could run
    else:
        waiting[cancel].cancel()
        release.set()
    await asyncio.gather(first, *(t for name, t in waiting.items() if name != cancel))
    return queue, done, waiting[cancel]


async def test_a_cancelled_waiter_never_blocks_the_queue() -> None:
    _, done, cancelled = await three_writers("second", after_hand_over=False)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert done == ["first", "third"]


async def test_a_turn_handed_to_a_writer_being_cancelled_passes_on() -> None:
    queue, done, _ = await three_writers("second", after_hand_over=True)
    assert done == ["first", "third"]
    async with asyncio.timeout(1):
        async with queue.turn():  # and the queue is free again
            pass
