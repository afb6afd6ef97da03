"""The flood gate on its own: a leaky bucket per sender, driven by an explicit clock."""

from __future__ import annotations

import time

import pytest

from qn_bot.flood import PRUNE_FROM, FloodGate, Verdict

A, R, W = Verdict.ACCEPT, Verdict.REFUSE, Verdict.WARN


def test_a_burst_up_to_the_limit_passes_then_one_warning_then_silence() -> None:
    gate = FloodGate(20, 10)
    assert [gate.check("alice", 0.0) for _ in range(20)] == [A] * 20
    assert [gate.check("alice", 0.0) for _ in range(5)] == [W, R, R, R, R]


def test_a_sustained_flood_never_slips_through_at_the_drain_rate() -> None:
    gate = FloodGate(20, 10)  # drains 2 per second
    verdicts = [gate.check("alice", n * 0.1) for n in range(600)]  # 10 per second for 60 s
    assert verdicts[:20] == [A] * 20
    assert A not in verdicts[30:]
    assert verdicts.count(W) == 1


def test_once_the_rate_drops_messages_are_read_again_within_about_a_window() -> None:
    gate = FloodGate(20, 10)
    for n in range(200):
        gate.check("alice", n * 0.01)
    assert gate.check("alice", 2.0) is R
    assert gate.check("alice", 2.0 + 10.5) is A  # ten seconds of quiet, and a little more
    # A new flood is a new warning.
    assert W in [gate.check("alice", 12.5) for _ in range(25)]


def test_the_sustained_rate_itself_is_always_accepted() -> None:
    gate = FloodGate(20, 10)
    assert all(gate.check("alice", n * 0.5) is A for n in range(1000))  # 2 per second


def test_senders_have_buckets_of_their_own() -> None:
    gate = FloodGate(3, 10)
    for _ in range(10):
        gate.check("alice", 0.0)
    assert [gate.check("bob", 0.0) for _ in range(3)] == [A, A, A]


def test_a_clock_set_back_fills_nothing() -> None:
    gate = FloodGate(3, 10)
    assert [gate.check("alice", 100.0) for _ in range(3)] == [A, A, A]
    assert gate.check("alice", 50.0) is W
    assert gate.check("alice", 200.0) is A


def test_idle_senders_are_forgotten() -> None:
    gate = FloodGate(20, 10)
    for _ in range(30):
        gate.check("flooder", 100.0)
    for n in range(PRUNE_FROM - 1):
        gate.check(f"citizen-{n}", 99.0)
    assert len(gate) == PRUNE_FROM
    gate.check("newcomer", 105.0)  # the citizens' single messages drained long ago
    assert len(gate) == 2
    assert gate.check("flooder", 105.0) is R  # a flooder is not forgotten mid-flood


@pytest.mark.parametrize(("count", "window"), [(0, 10), (5, 0)])
def test_a_limit_must_let_something_through(count: int, window: float) -> None:
    with pytest.raises(ValueError, match="at least one message"):
        FloodGate(count, window)


def test_a_check_costs_next_to_nothing() -> None:
    """The ingestion bench handles ~9,000 answers/s, ~110 µs of CPU each: a check must be
    a rounding error beside that (measured here: well under 2 µs)."""
    gate = FloodGate(20, 10)
    senders = [f"telegram:{n}" for n in range(1000)]
    start = time.perf_counter()
    for n in range(100_000):
        gate.check(senders[n % 1000], n * 0.001)
    per_check = (time.perf_counter() - start) / 100_000
    assert per_check < 20e-6, per_check
