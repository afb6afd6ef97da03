"""until_available: at once when the database answers, with a doubling wait while it cannot."""

from __future__ import annotations

import pytest

from qn_bot import retrying
from qn_bot.errors import DatabaseUnavailable


async def test_a_database_that_answers_is_asked_once() -> None:
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        return "done"

    assert await retrying.until_available(attempt, lambda e, d: None) == "done"
    assert calls == [1]


async def test_waits_double_after_each_failure_then_the_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retrying, "FIRST_WAIT", 0.01)
    failures = [DatabaseUnavailable("locked")] * 3
    waits: list[float] = []

    async def attempt() -> str:
        if failures:
            raise failures.pop()
        return "done"

    assert await retrying.until_available(attempt, lambda e, d: waits.append(d)) == "done"
    assert waits == pytest.approx([0.01, 0.02, 0.04])


async def test_another_error_ends_it_at_once() -> None:
    async def attempt() -> str:
        raise ValueError("bug")

    with pytest.raises(ValueError, match="bug"):
        await retrying.until_available(attempt, lambda e, d: None)
