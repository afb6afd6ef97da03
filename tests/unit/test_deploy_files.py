"""deploy/ (issue 16 item 5): the systemd unit passes `systemd-analyze verify` without a word
and keeps its sandboxing; the container recipe is multi-stage and runs as a non-root user."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
#: Installed by `make test` (tests/servers/systemd/install.sh): a missing one fails, never skips.
ANALYZE = shutil.which("systemd-analyze")

SANDBOX = (
    "DynamicUser=yes",
    "StateDirectory=qn-bot",
    "ProtectSystem=strict",
    "NoNewPrivileges=yes",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "CapabilityBoundingSet=",
    "EnvironmentFile=/etc/qn-bot/qn-bot.env",
)


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


def test_systemd_unit_verifies_cleanly(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: here it is this checkout's qn-bot, not
    # the /opt/qn-bot of a server.
    here = Path(sys.executable).with_name("qn-bot")
    unit = tmp_path / "qn-bot.service"
    unit.write_text(
        (DEPLOY / "qn-bot.service").read_text().replace("/opt/qn-bot/bin/qn-bot", str(here))
    )
    result = verify(unit)
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == "", result.stderr


def test_verify_speaks_up_about_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: verify exits 0 on unknown keys, but says so."""
    unit = tmp_path / "broken.service"
    unit.write_text("[Service]\nExecStart=/bin/true\nProtectSystem=sometimes\nTypo=1\n")
    result = verify(unit)
    assert "protect system" in result.stderr
    assert "Unknown key" in result.stderr


def test_systemd_unit_is_sandboxed() -> None:
    lines = (DEPLOY / "qn-bot.service").read_text().splitlines()
    for directive in SANDBOX:
        assert directive in lines, directive


def test_container_is_multi_stage_non_root_with_state_in_a_volume() -> None:
    recipe = (DEPLOY / "Containerfile").read_text()
    assert recipe.count("\nFROM ") + recipe.startswith("FROM ") >= 2
    assert "COPY --from=build" in recipe
    users = [line.split()[1] for line in recipe.splitlines() if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")
    assert 'VOLUME ["/var/lib/qn-bot"]' in recipe
    compose = (DEPLOY / "compose.yaml").read_text()
    assert "postgres:" in compose
    assert "127.0.0.1:9464:9464" in compose  # metrics never on a public address
