"""Digest e-mails: multipart/alternative text + HTML, the chart inline, the synthesis attached.

Layout (what mail clients expect)::

    multipart/mixed
    ├── multipart/alternative
    │   ├── text/plain                 the chat text
    │   └── multipart/related
    │       ├── text/html              the e-mail body, <img src="cid:…">
    │       └── image/png              one chart per campaign, inline, Content-ID
    └── text/html (attachment)         one synthesis page per campaign

Built once when the digest is queued, stored whole in the outbox, sent by the e-mail adapter
(``qn_bot.adapters.email``) through ``[smtp]``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from qn_bot.domain import Attachment
from qn_bot.mime import attach

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def chart_cid(slug: str, key: str) -> str:
    """A Content-ID for a campaign's chart, unique per digest (no angle brackets)."""
    digest = hashlib.sha256(f"{key}:{slug}".encode()).hexdigest()[:16]
    return f"chart-{_ID_UNSAFE.sub('-', slug)}-{digest}@qn-bot"


def message_id(key: str, recipient: str, sender: str) -> str:
    """A Message-ID that is the same for every attempt: a resend is recognisably a duplicate."""
    domain = sender.rpartition("@")[2] or "qn-bot.invalid"
    domain = _ID_UNSAFE.sub("-", domain) or "qn-bot.invalid"
    token = hashlib.sha256(f"{key}\n{recipient}".encode()).hexdigest()[:24]
    return f"<{_ID_UNSAFE.sub('.', key)}.{token}@{domain}>"


def build_email(
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html: str,
    charts: Mapping[str, bytes],
    attachments: Sequence[Attachment],
    key: str,
    now: datetime,
    language: str = "fr",
) -> EmailMessage:
    """``charts`` maps a Content-ID (see :func:`chart_cid`) to PNG bytes."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(key, recipient, sender)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a digest
    msg["Content-Language"] = language
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    html_part = msg.get_body(("html",))
    assert isinstance(html_part, EmailMessage)
    for n, (cid, png) in enumerate(charts.items(), start=1):
        html_part.add_related(
            png,
            maintype="image",
            subtype="png",
            cid=f"<{cid}>",
            filename=f"chart-{n}.png",
            disposition="inline",
        )
    for attachment in attachments:
        attach(msg, attachment)
    return msg
