"""A scheduled job cut short by the process stopping is not an error: every job claims its work
first, so the next start takes it up; only a job that fails is logged as one."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from qn_bot.app import Application
from qn_bot.config import Config
from qn_bot.scheduler import ALL_JOBS, CAMPAIGN_JOBS, Scheduler
from qn_bot.store.sql import Store


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


async def test_a_terminal_chat_schedules_only_the_campaigns_opening_and_closing(
    tmp_path: Path,
) -> None:
    config = Config.model_validate(
        {
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'qn.db'}"},
            "teams": [{"name": "equipe", "campaigns": ["c"]}],
        }
    )
    service = Application(config, [])
    terminal = Application(config, [], terminal=True)
    try:
        assert service.scheduler.jobs == ALL_JOBS
        assert terminal.scheduler.jobs == CAMPAIGN_JOBS
        started = {}
        for name, scheduler in (("service", service.scheduler), ("terminal", terminal.scheduler)):
            await scheduler.start()  # awaits nothing: no job runs before the stop below
            started[name] = scheduler.job_ids()
            await scheduler.stop()
        assert started == {
            "service": [
                "campaigns",
                "digest-catch-up",
                "digest:equipe",
                "recaps",
                "reminders",
                "retention",
            ],
            "terminal": ["campaigns"],
        }
    finally:
        for app in (service, terminal):
            await app.store.close()
            await app.leadership.close()


def test_unknown_jobs_are_refused() -> None:
    with pytest.raises(ValueError, match="digest"):
        Scheduler(None, Config(), jobs=frozenset({"digest"}))  # type: ignore[arg-type]


async def test_stop_returns_once_a_job_cut_short_has_ended_its_transaction(tmp_path: Path) -> None:
    """A run still holding its connection when the store closed kept aiosqlite's thread alive,
    and `qn-bot chat` never exited (seen as console tests hanging at EOF)."""
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'qn.db'}")
    scheduler = Scheduler(store, Config(), jobs=CAMPAIGN_JOBS)
    inside = asyncio.Event()

    async def holds_a_transaction() -> int:
        async with store.transaction():
            inside.set()
            await asyncio.Event().wait()  # until cancelled
        return 0

    scheduler.tick_campaigns = holds_a_transaction  # type: ignore[method-assign]
    try:
        await scheduler.start()
        await asyncio.wait_for(inside.wait(), timeout=30)
        await scheduler.stop()
        assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await store.close()
