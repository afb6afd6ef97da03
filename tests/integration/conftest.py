"""Fixtures of the integration tests: a config in tmp_path and a `qn-bot` runner bound to it.

``config_path`` (and so ``qn``) asks for tests/conftest.py's ``database_url``: every test using
them runs once per backend of ``BACKENDS`` — on SQLite (the file ``test.db`` in tmp_path) and,
when QN_BOT_TEST_POSTGRES_URL is set, on a fresh PostgreSQL database dropped after the test.
Mark a test ``SQLITE_ONLY`` (tests/integration/processes.py) to keep it on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qn_bot.store.database import is_sqlite
from tests.integration.processes import QnBot, write_config


@pytest.fixture
def config_path(tmp_path: Path, database_url: str) -> Path:
    # On SQLite the file stays where the tests look for it (tmp_path/test.db).
    return write_config(tmp_path, url=None if is_sqlite(database_url) else database_url)


@pytest.fixture
def qn(tmp_path: Path, config_path: Path) -> Iterator[QnBot]:
    """`qn("campaign", "list")` runs qn-bot on this test's own database, cwd tmp_path."""
    bot = QnBot(tmp_path, config_path)
    yield bot
    bot.cleanup()
