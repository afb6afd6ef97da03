"""The e-mail adapter: the outbox's rows for ``mailto:ADDRESS`` sent through SMTP.

E-mail is one more platform behind the :class:`~qn_bot.ports.Adapter` port, so it gets what chat
messages get: rows written in the transaction that decided to send them, retries with backoff
by the running bot, exactly-once enqueueing through dedupe keys, a status per row.

A message whose single attachment is ``message/rfc822`` is sent as it is: the digest builds
its e-mail (multipart, chart inline, Message-ID stable per digest and address) when it queues
it, so every attempt sends the same bytes and a resend after a crash carries the same
Message-ID, which mail clients and lists recognise as one message. Any other message becomes
a plain-text e-mail whose Message-ID is derived from its outbox row.

Only sends: an address is no conversation, nothing is received.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from qn_bot.config import Config, SmtpConfig
from qn_bot.domain import Envelope
from qn_bot.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from qn_bot.mime import attach
from qn_bot.ports import Adapter, AdapterContext, Capabilities, InboundSink, Platform

log = logging.getLogger(__name__)

PLATFORM = "mailto"
RFC822 = "message/rfc822"
SMTP_TIMEOUT = 30.0


def smtp_error(smtp: SmtpConfig, exc: BaseException) -> DeliveryError:
    """What an SMTP failure means for the outbox: 5xx is final for this message, the rest
    (4xx, network, timeouts) is worth another try. The text holds server replies, never our
    credentials."""
    where = f"SMTP {smtp.host}:{smtp.port}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        refused = exc.recipients[0]
        code, text = refused.code, refused.message
    elif isinstance(exc, aiosmtplib.SMTPResponseException):
        code, text = exc.code, exc.message
    elif isinstance(exc, OSError):
        return TransientDeliveryError(f"{where}: {exc.strerror or exc}")
    else:
        return TransientDeliveryError(f"{where}: {type(exc).__name__}: {exc}")
    message = f"{where}: {code} {' '.join(str(text).split())}"
    if 500 <= code < 600:
        return PermanentDeliveryError(message)
    return TransientDeliveryError(message)


_CANNOT_SERVE = (
    OSError,
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPTimeoutError,
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPAuthenticationError,
)

CAPABILITIES = Capabilities(
    buttons=False, max_text_length=10_000_000, attachments=True, messages_per_second=5.0
)


class EmailAdapter(Adapter):
    platform = PLATFORM
    receives = False
    capabilities = CAPABILITIES

    def __init__(
        self,
        smtp: SmtpConfig,
        *,
        reach: Collection[str] | None = None,
        timeout: float = SMTP_TIMEOUT,
    ) -> None:
        """``reach``: only these addresses (a one-shot `qn-bot digest send` sends its own)."""
        self.smtp = smtp
        self.timeout = timeout
        self._reach = None if reach is None else frozenset(reach)
        #: Why the server could not be reached at the last attempt (None: it could, or no
        #: attempt yet). Digests are when this adapter talks to the server: /healthz says it then.
        self._unreachable: str | None = None

    async def start(self, sink: InboundSink) -> None:
        del sink  # nothing to receive

    async def stop(self) -> None:
        pass

    def reachable_chats(self) -> frozenset[str] | None:
        return self._reach

    def health(self) -> str | None:
        return self._unreachable

    async def send(self, envelope: Envelope) -> None:
        recipient = envelope.address.chat_id
        message = envelope.message
        prepared = [a for a in message.attachments if a.media_type == RFC822]
        if len(prepared) == 1 and len(message.attachments) == 1:
            content: bytes | EmailMessage = prepared[0].data
        else:
            content = self._plain(envelope)
        password = self.smtp.password.get_secret_value() if self.smtp.password else None
        try:
            await aiosmtplib.send(
                content,
                sender=self.smtp.from_,
                recipients=[recipient],
                hostname=self.smtp.host,
                port=self.smtp.port,
                username=self.smtp.username or None,
                password=password if self.smtp.username else None,
                start_tls=self.smtp.starttls,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            error = smtp_error(self.smtp, exc)
            # A refused recipient or message says the server answered; no connection, a
            # timeout, a dropped connection or a refused login says it cannot serve.
            if isinstance(exc, _CANNOT_SERVE):
                self._unreachable = str(error)
            raise error from None
        self._unreachable = None
        log.info("e-mail %s sent through %s:%s", envelope.outbox_id, self.smtp.host, self.smtp.port)

    def _plain(self, envelope: Envelope) -> EmailMessage:
        message = envelope.message
        msg = EmailMessage()
        msg["From"] = self.smtp.from_
        msg["To"] = envelope.address.chat_id
        first = message.text.strip().splitlines()[0] if message.text.strip() else "qn-bot"
        msg["Subject"] = first[:120]
        msg["Date"] = format_datetime(datetime.now(UTC))
        # The same for every attempt at this row: a resend is recognisably a duplicate.
        domain = self.smtp.from_.rpartition("@")[2] or "qn-bot.invalid"
        token = hashlib.sha256(f"{envelope.outbox_id}\n{msg['To']}".encode()).hexdigest()[:24]
        msg["Message-ID"] = f"<outbox.{envelope.outbox_id}.{token}@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(message.text, charset="utf-8")
        for attachment in message.attachments:
            attach(msg, attachment)
        return msg


def build_adapter(config: Config, context: AdapterContext) -> Adapter | None:
    """Entry point `mailto`: an adapter when a team sends digests by e-mail."""
    del context
    wanted = any(d.startswith(f"{PLATFORM}:") for team in config.teams for d in team.destinations)
    return EmailAdapter(config.smtp) if wanted else None


#: The entry point (pyproject.toml, group qn_bot.adapters): how to build the adapter, and what
#: it can do.
EmailAdapterFactory = Platform(build_adapter, capabilities=CAPABILITIES)
