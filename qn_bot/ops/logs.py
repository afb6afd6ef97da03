"""`--log-format json`: one JSON object a line for log collectors.

Each object has the time, level, component (the logger's name), the message, and — where they
apply — ``campaign`` (a record's ``extra={"campaign": slug}``) and ``correlation``: an id drawn
at random for each inbound message, the same on every line its handling writes. It is never a
platform id, a name or an answer: those stay out of log messages as in the human format, and
the configured secrets are masked in every field (qn_bot.redact).
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

#: The inbound message being handled by this task, if any.
CORRELATION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "qn_bot_correlation", default=None
)


def new_correlation() -> contextvars.Token[str | None]:
    """Name the message this task now handles; reset the returned token when done."""
    return CORRELATION.set(secrets.token_hex(6))


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.redact = redact if redact is not None else (lambda text: text)

    def redacting(self, redact: Callable[[str], str]) -> JsonFormatter:
        """The same format with the configured secrets masked (qn_bot.redact.install)."""
        return JsonFormatter(redact)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "component": record.name,
            "message": self.redact(record.getMessage()),
        }
        campaign = getattr(record, "campaign", None)
        if campaign is not None:
            entry["campaign"] = str(campaign)
        correlation = CORRELATION.get()
        if correlation is not None:
            entry["correlation"] = correlation
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)
