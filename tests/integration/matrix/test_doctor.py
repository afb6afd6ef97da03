"""`qn-bot doctor`'s Matrix checks against the real Synapse (issue 16 item 3): all pass for a
bot that ran; a crypto store of another device and a wrong password fail, each with its fix."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.processes import qn_bot_command

from .bot import BotProcess

pytestmark = pytest.mark.integration


def doctor(bot: BotProcess, *, password: str | None = None) -> tuple[int, dict[str, str], str]:
    """Exit status, check name → its line, and the whole output."""
    env = dict(bot.env)
    if password is not None:
        env["QN_BOT_MATRIX_PASSWORD"] = password
    proc = subprocess.run(
        [*qn_bot_command(), "--config", str(bot.config), "doctor"],
        cwd=bot.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = {}
    for line in proc.stdout.splitlines():
        status, _, rest = line.partition(" ")
        assert status in ("ok", "FAIL"), line
        found[rest.strip().partition(":")[0]] = line
    return proc.returncode, found, proc.stdout + proc.stderr


def ran_once(make_bot: Callable[..., BotProcess]) -> BotProcess:
    bot = make_bot()  # logged in, first sync done
    bot.stop()
    return bot


MATRIX_CHECKS = {"matrix", "matrix password", "matrix crypto store", "matrix rooms"}


def test_every_matrix_check_passes_for_a_bot_that_ran(
    make_bot: Callable[..., BotProcess],
) -> None:
    bot = ran_once(make_bot)
    rc, checks, output = doctor(bot)
    assert rc == 0, output
    assert set(checks) >= MATRIX_CHECKS, output
    assert all(checks[name].startswith("ok") for name in MATRIX_CHECKS), output


def test_a_crypto_store_of_another_device_fails_with_its_fix(
    make_bot: Callable[..., BotProcess], tmp_path: Path
) -> None:
    bot = ran_once(make_bot)
    store = bot.workdir / "matrix-store"
    old = tmp_path / "old-store"
    shutil.copytree(store, old)  # a backup of the first device's crypto store
    first = bot.kv("session")["device_id"]
    # The database forgot the session (restored from before the login): a new device…
    bot.set_kv("session", None)
    bot.start()
    bot.stop()
    # …and store_path is then restored from the older backup: the first device's store only.
    shutil.rmtree(store)
    shutil.copytree(old, store)

    rc, checks, output = doctor(bot)
    assert rc == 1, output
    line = checks["matrix crypto store"]
    assert line.startswith("FAIL"), output
    assert f"only device {first}'s" in line, line
    assert "restore [matrix] store_path" in line, line
    assert checks["matrix"].startswith("ok"), output  # the account itself is fine


def test_a_wrong_password_fails_with_its_fix(make_bot: Callable[..., BotProcess]) -> None:
    # The bot still runs on its saved access token, but would not log in again once it is
    # revoked: doctor says so now, not on the day the token goes.
    bot = ran_once(make_bot)
    rc, checks, output = doctor(bot, password="not the password")
    assert rc == 1, output
    line = checks["matrix password"]
    assert line.startswith("FAIL"), output
    assert "QN_BOT_MATRIX_PASSWORD" in line, line
    # Checking it made no device and revoked nothing: the right password still passes.
    rc, checks, output = doctor(bot)
    assert rc == 0, output
