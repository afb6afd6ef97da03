"""A scheduled job cut short by the process stopping is not an error: every job claims its work
first, so the next start takes it up; only a job that fails is logged as one."""

from __future__ import annotations

import asyncio
import logging

import pytest

from qn_bot.config import Config
from qn_bot.scheduler import Scheduler


async def test_a_job_cancelled_at_stop_ends_quietly(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = Scheduler(None, Config())  # type: ignore[arg-type]  # the jobs below need no store

    async def cut_short() -> int:
        raise asyncio.CancelledError

    async def broken() -> int:
        raise RuntimeError("boom")

    with caplog.at_level(logging.INFO, logger="qn_bot.scheduler"):
        await scheduler._guarded(cut_short)()
        await scheduler._guarded(broken)()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["scheduled job broken failed"]
    assert any("cut_short" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
