"""Secrets out of every log line and error message, whatever library wrote it.

Bot tokens travel inside URLs (the Bot API's ``/bot<token>/`` path), and python-telegram-bot,
aiohttp or a traceback may print such a URL. Rather than hoping every call site is careful, the
CLI installs :class:`RedactingFormatter` on the root handlers: the final text of each record —
message, arguments, traceback — has every configured secret replaced.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Iterable

from sqlalchemy.engine import make_url

from qn_bot.config import Config

MASK = "[secret]"


def config_secrets(config: Config) -> list[str]:
    """Every secret value the configuration holds."""
    values = [
        config.telegram.token,
        config.telegram.webhook_secret,
        config.matrix.password,
        config.matrix.access_token,
        config.smtp.password,
    ]
    found = [v.get_secret_value() for v in values if v is not None]
    try:
        password = make_url(config.database.url).password
    except Exception:  # an invalid URL is reported elsewhere; it has no password to hide here
        password = None
    if password:
        found.append(str(password))
    return found


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            # As written, and as it appears once quoted in a URL (a token's ":" is "%3A").
            variants |= {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret)}
        # Longest first: a secret containing another is masked whole.
        self._secrets = sorted(variants, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class RedactingFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor(super().format(record))


def install(redactor: Redactor, fmt: str) -> Callable[[], None]:
    """Put the redacting formatter on every handler of the root logger; returns a function
    that puts the previous formatters back."""
    saved = [(handler, handler.formatter) for handler in logging.getLogger().handlers]
    for handler, previous in saved:
        # A formatter of its own kind (qn_bot.ops.logs' JSON) masks field by field.
        redacting = getattr(previous, "redacting", None)
        if callable(redacting):
            handler.setFormatter(redacting(redactor))
        else:
            handler.setFormatter(RedactingFormatter(redactor, previous._fmt if previous else fmt))

    def restore() -> None:
        for handler, previous in saved:
            handler.setFormatter(previous)

    return restore
