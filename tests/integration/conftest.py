"""Fixtures of the integration tests: a config in tmp_path and a `qn-bot` runner bound to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.processes import QnBot, write_config


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def qn(tmp_path: Path, config_path: Path) -> Iterator[QnBot]:
    """`qn("campaign", "list")` runs qn-bot on this test's own database, cwd tmp_path."""
    bot = QnBot(tmp_path, config_path)
    yield bot
    bot.cleanup()
