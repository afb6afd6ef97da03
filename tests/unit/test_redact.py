"""Secrets out of log lines: the formatter sees the final text, traceback included."""

from __future__ import annotations

import io
import logging

from qn_bot.config import Config
from qn_bot.redact import MASK, Redactor, config_secrets, install

TOKEN = "123456:SECRET-abc_def"


def test_every_configured_secret_is_known() -> None:
    config = Config.model_validate(
        {
            "database": {"url": "postgresql://qn:db-pass-42@127.0.0.1/qn"},
            "telegram": {"token": TOKEN, "webhook_secret": "hook-secret"},
            "matrix": {"password": "mx-pass", "access_token": "syt_token"},
            "smtp": {"password": "smtp-pass"},
        }
    )
    assert sorted(config_secrets(config)) == sorted(
        [TOKEN, "hook-secret", "mx-pass", "syt_token", "smtp-pass", "db-pass-42"]
    )


def test_messages_arguments_tracebacks_and_quoted_forms_are_masked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    restore = install(Redactor([TOKEN]), "%(message)s")
    try:
        log = logging.getLogger("test.redact")
        log.error("GET http://api/bot%s/getMe", TOKEN)
        log.error("quoted: http://api/bot%s/getMe", TOKEN.replace(":", "%3A"))
        try:
            raise RuntimeError(f"failed at /bot{TOKEN}/sendMessage")
        except RuntimeError:
            log.exception("with a traceback")
    finally:
        restore()
        root.removeHandler(handler)
    text = stream.getvalue()
    assert "SECRET" not in text
    assert text.count(MASK) == 3
    assert handler.formatter is None  # put back as it was
