"""Keeps Matrix ids out of the log lines matrix-nio writes.

nio names users, rooms and devices in its warnings ("Missing session for device … of user
@alice:example.org"); those ids are personal data and logs are often shared. A filter on nio's
loggers replaces them with a placeholder before any handler sees the line.
"""

from __future__ import annotations

import logging
import re

#: @user:server, !room:server, #alias:server, $event(:server): what the spec calls identifiers.
_MATRIX_ID = re.compile(r"[@!#$][A-Za-z0-9._=\-/+]+(?::[A-Za-z0-9.\-]+(?::\d+)?)?(?=\W|$)")
_KIND = {"@": "<user>", "!": "<room>", "#": "<alias>", "$": "<event>"}


def scrub(text: str) -> str:
    return _MATRIX_ID.sub(lambda m: _KIND[m.group(0)[0]], text)


class MatrixIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = MatrixIdFilter()


def guard_nio_logs() -> None:
    """Attach the filter to every logger of nio (a logger's filters do not reach its children,
    so each module's own logger gets it)."""
    names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] == "nio"]
    for name in ["nio", *names]:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
