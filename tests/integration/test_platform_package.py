"""A platform from another package (tests/fixtures/qn_bot_echo), installed as a third party
would install it: `qn-bot run` finds it through the ``qn_bot.adapters`` entry-point group,
validates its ``[echo]`` section as strictly as its own, and carries messages through it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.processes import clean_env, qn_bot_command

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "qn_bot_echo"
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def echo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package installed with pip into a folder of its own, put on PYTHONPATH."""
    root = tmp_path_factory.mktemp("echo")
    source = root / "source"
    shutil.copytree(FIXTURE, source)  # pip builds in place: keep the repository clean
    target = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",  # setuptools from this venv: no download
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    assert (target / "qn_bot_echo" / "__init__.py").is_file()
    return target


def _env(site: Path) -> dict[str, str]:
    env = clean_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return env


def _config(tmp_path: Path, echo: str) -> Path:
    path = tmp_path / "qn_bot.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n\n[echo]\n{echo}\n',
        encoding="utf-8",
    )
    return path


def test_a_message_goes_through_a_platform_from_another_package(
    echo_site: Path, tmp_path: Path
) -> None:
    transcript = tmp_path / "transcript.txt"
    config = _config(tmp_path, 'says = ["bonjour"]')
    # Like the built-in sections' secrets, a key of a platform's section may come from the
    # environment: QN_BOT_<PLATFORM>_<KEY>.
    env = {**_env(echo_site), "QN_BOT_ECHO_TRANSCRIPT": str(transcript)}
    bot = subprocess.Popen(
        [*qn_bot_command(), "--config", str(config), "run"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        # The welcome and the consent question, with its two choices as the echo writes them.
        while "J’accepte" not in (transcript.read_text("utf-8") if transcript.exists() else ""):
            assert bot.poll() is None, bot.communicate()
            assert time.monotonic() < deadline, "no answer through the echo platform"
            time.sleep(0.1)
    finally:
        bot.send_signal(signal.SIGINT)
        _, stderr = bot.communicate(timeout=TIMEOUT)
    assert bot.returncode == 0, stderr
    assert "Je refuse" in transcript.read_text("utf-8")


def test_a_wrong_key_in_a_platform_section_is_refused_in_one_line(
    echo_site: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, f'transcript = "{tmp_path / "t.txt"}"\ncolour = "red"')
    done = subprocess.run(
        [*qn_bot_command(), "--config", str(config), "run"],
        cwd=tmp_path,
        env=_env(echo_site),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), done.stderr
    assert "echo.colour: Extra inputs are not permitted" in lines[0], done.stderr
    assert not (tmp_path / "bot.db").exists()  # refused before anything was touched


def test_a_section_no_installed_platform_declares_is_still_an_error(tmp_path: Path) -> None:
    config = _config(tmp_path, 'transcript = "t.txt"')
    done = subprocess.run(
        [*qn_bot_command(), "--config", str(config), "run"],
        cwd=tmp_path,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "echo: Extra inputs are not permitted" in done.stderr
