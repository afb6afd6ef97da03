"""`--log-format json` (issue 16 item 4): one object a line, component, campaign, a correlation
id per inbound message, secrets masked in every field."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from qn_bot.ops.logs import CORRELATION, JsonFormatter, new_correlation
from qn_bot.redact import Redactor, install
from tests.integration.processes import clean_env, qn_bot_command

SECRET = "123456:SECRET-token"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("qn_bot.outbox", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_one_object_with_component_campaign_and_correlation() -> None:
    formatter = JsonFormatter()
    token = new_correlation()
    try:
        first = json.loads(formatter.format(record("sent %d", 3, campaign="construire-2030")))
        second = json.loads(formatter.format(record("again")))
    finally:
        CORRELATION.reset(token)
    assert first["component"] == "qn_bot.outbox"
    assert first["level"] == "warning"
    assert first["message"] == "sent 3"
    assert first["campaign"] == "construire-2030"
    assert len(first["correlation"]) == 12
    assert first["correlation"] == second["correlation"]  # one message, one id
    assert "campaign" not in second
    outside = json.loads(formatter.format(record("idle")))
    assert "correlation" not in outside


def test_redaction_still_applies_to_every_field() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        restore = install(Redactor([SECRET]), "%(message)s")
        try:
            formatter = handler.formatter
            assert isinstance(formatter, JsonFormatter)
            try:
                raise RuntimeError(f"https://api.telegram.org/bot{SECRET}/getMe failed")
            except RuntimeError:
                rec = record("calling %s", f"/bot{SECRET}/")
                rec.exc_info = sys.exc_info()
            line = formatter.format(rec)
        finally:
            restore()
    finally:
        root.removeHandler(handler)
    assert SECRET not in line
    entry = json.loads(line)
    assert "[secret]" in entry["message"]
    assert "[secret]" in entry["exception"]


def test_the_cli_writes_json_lines_on_stderr(tmp_path: Path) -> None:
    config = tmp_path / "qn_bot.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite"}"\n', encoding="utf-8")
    env = {**clean_env(), "QN_BOT_TELEGRAM_TOKEN": SECRET}
    result = subprocess.run(
        [
            *qn_bot_command(),
            "--config",
            str(config),
            "--log-format",
            "json",
            "-vv",
            "db",
            "upgrade",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "component", "message"} <= set(entry)
    assert SECRET not in result.stderr
