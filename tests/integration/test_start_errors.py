"""What an operator sees when the database or a file cannot be used: one line saying what is
wrong, exit code 1, no traceback. Real `qn-bot` processes."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ENV
from tests.integration.processes import QnBot, Result

pytestmark = pytest.mark.integration


def one_line_error(result: Result) -> str:
    assert result.rc == 1, str(result)
    assert "Traceback" not in result.stderr, str(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, str(result)
    return errors[0]


def qn_on(directory: Path, url: str, extra: str = "") -> QnBot:
    config = directory / "qn_bot.toml"
    config.write_text(f'[database]\nurl = "{url}"\n{extra}', encoding="utf-8")
    return QnBot(directory, config)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # asyncpg missing is the same ImportError as a driver that is not installed.
        ("postgresql+psycopg2://u:hunter2@127.0.0.1:1/qn", "'psycopg2' of 'postgresql+psycopg2'"),
        ("postgresql+nosuchdriver://u:hunter2@127.0.0.1:1/qn", "nosuchdriver"),
        ("oracle+oracledb://u:hunter2@127.0.0.1:1/qn", "not installed"),
        ("not a url", "not a database URL"),
    ],
)
def test_a_database_url_naming_a_driver_that_is_not_there(
    tmp_path: Path, url: str, expected: str
) -> None:
    error = one_line_error(qn_on(tmp_path, url)("campaign", "list"))
    assert expected in error
    assert "hunter2" not in error


def test_postgresql_that_does_not_answer(tmp_path: Path) -> None:
    error = one_line_error(
        qn_on(tmp_path, "postgresql://u:hunter2@127.0.0.1:1/qn")("db", "upgrade")
    )
    assert "cannot reach" in error
    assert "127.0.0.1:1" in error
    assert "hunter2" not in error


@pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason="needs PostgreSQL")
def test_a_postgresql_database_that_does_not_exist(tmp_path: Path) -> None:
    server = os.environ[POSTGRES_ENV].rpartition("/")[0]
    error = one_line_error(qn_on(tmp_path, f"{server}/qn_no_such_database")("db", "upgrade"))
    assert "qn_no_such_database" in error
    assert "does not exist" in error


def test_a_sqlite_file_in_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "deeper"
    for command in (("campaign", "list"), ("run",)):
        error = one_line_error(qn_on(tmp_path, f"sqlite:///{missing}/bot.db")(*command))
        assert f"{missing}" in error
        assert "does not exist" in error
    assert not missing.exists()


def test_a_database_locked_at_start(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    qn = qn_on(tmp_path, f"sqlite:///{db}")
    qn.ok("db", "upgrade")
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another program writing, longer than busy_timeout
        started = time.monotonic()
        error = one_line_error(
            qn("campaign", "create", "x", "--flow", "construire-2030", "--title", "X")
        )
        assert time.monotonic() - started < 30
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "locked by another process" in error
    assert str(db) in error


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_flow_file_nested_too_deep(tmp_path: Path) -> None:
    flow = tmp_path / "deep.toml"
    flow.write_text(f'id = "deep"\nversion = 1\nlanguages = ["fr"]\nx = {nested(5000)}\n')
    qn = qn_on(tmp_path, f"sqlite:///{tmp_path / 'bot.db'}")
    result = qn("flow", "validate", str(flow))
    assert result.rc == 1, str(result)
    assert "Traceback" not in result.stderr
    assert f"error: {flow}: arrays or tables nested too deep" in result.stderr
    error = one_line_error(qn("campaign", "create", "deep", "--flow", str(flow), "--title", "D"))
    assert "nested too deep" in error


def test_a_config_file_nested_too_deep(tmp_path: Path) -> None:
    qn = qn_on(tmp_path, f"sqlite:///{tmp_path / 'bot.db'}", f"admins = {nested(5000)}\n")
    error = one_line_error(qn("campaign", "list"))
    assert "nested too deep" in error


def test_a_mailto_destination_that_is_no_address(tmp_path: Path) -> None:
    extra = (
        '[[teams]]\nname = "t"\ncampaigns = ["construire-2030"]\n'
        'destinations = ["mailto:a@example.org", "mailto:not an address"]\n'
    )
    error = one_line_error(
        qn_on(tmp_path, f"sqlite:///{tmp_path / 'bot.db'}", extra)("campaign", "list")
    )
    assert "'mailto:not an address'" in error
    assert "not an e-mail address" in error
