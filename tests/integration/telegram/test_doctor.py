"""`qn-bot doctor` against real servers (the Telegram emulator, aiosmtpd) and failing ones
(issue 16 item 3): one line per check, a fix for each failure, exit 0 only when all pass."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.integration.processes import QnBot, Result, clean_env, write_config
from tests.integration.telegram.harness import Emulator, free_port, new_token

pytestmark = pytest.mark.integration


class Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        raise AssertionError("doctor must send nothing")


@pytest.fixture
def smtp_port() -> Iterator[int]:
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def doctor(tmp_path: Path, extra: str, token: str | None = None) -> Result:
    bot = QnBot(tmp_path, write_config(tmp_path, extra))
    if token is not None:
        bot.env = {**clean_env(), "QN_BOT_TELEGRAM_TOKEN": token}
    return bot("doctor")


def lines(result: Result) -> dict[str, str]:
    """check name → its line."""
    found = {}
    for line in result.stdout.splitlines():
        status, _, rest = line.partition(" ")
        name, _, _ = rest.strip().partition(":")
        found[name] = line
        assert status in ("ok", "FAIL"), line
    return found


def team(port: int) -> str:
    return (
        f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\n'
        '\n[[teams]]\nname = "equipe"\ndestinations = ["mailto:equipe@example.org"]\n'
    )


def test_all_checks_pass_against_real_servers(
    emulator: Emulator, smtp_port: int, tmp_path: Path
) -> None:
    telegram = f'\n[telegram]\nbase_url = "{emulator.url}/bot"\n'
    token = new_token()
    bot = QnBot(tmp_path, write_config(tmp_path, telegram + team(smtp_port)))
    bot.env = {**clean_env(), "QN_BOT_TELEGRAM_TOKEN": token}
    assert bot("db", "upgrade").rc == 0
    result = bot("doctor")
    assert result.rc == 0, result
    checks = lines(result)
    assert set(checks) == {
        "config",
        "database",
        "database schema",
        "database writable",
        "disk",
        "telegram",
        "telegram webhook",
        "smtp",
    }, result
    assert all(line.startswith("ok") for line in checks.values()), result
    assert token not in result.stdout + result.stderr


def test_each_failure_is_said_with_its_fix(tmp_path: Path) -> None:
    closed = free_port()
    extra = f'\n[telegram]\nbase_url = "http://127.0.0.1:{closed}/bot"\n' + team(closed)
    token = new_token()
    # No database yet, Telegram and the mail server unreachable.
    result = doctor(tmp_path, extra, token)
    assert result.rc == 1, result
    checks = lines(result)
    assert checks["config"].startswith("ok")
    for name, fix in (
        ("database", "qn-bot db upgrade"),
        ("telegram", "[telegram] base_url"),
        ("smtp", "[smtp] host"),
    ):
        assert checks[name].startswith("FAIL"), result
        assert "fix: " in checks[name]
        assert fix in checks[name], checks[name]
    assert token not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_behind_the_code_is_not_migrated(tmp_path: Path) -> None:
    bot = QnBot(tmp_path, write_config(tmp_path))
    assert bot("db", "upgrade").rc == 0
    with sqlite3.connect(tmp_path / "test.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0001'")
    result = bot("doctor")
    assert result.rc == 1, result
    schema = lines(result)["database schema"]
    assert schema.startswith("FAIL"), result
    assert "qn-bot db upgrade" in schema, result
    assert lines(result)["database"].startswith("ok")
