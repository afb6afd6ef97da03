"""Attachments become e-mail parts one way, whichever e-mail carries them: the digest's
(qn_bot.digest.email) or a plain message sent to a ``mailto:`` address (the e-mail adapter)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

from qn_bot.adapters.email.adapter import EmailAdapter

from qn_bot.config import SmtpConfig
from qn_bot.digest.email import build_email
from qn_bot.domain import Address, Attachment, Envelope, OutboundMessage

ATTACHMENTS = (
    Attachment("synthese.csv", "text/csv", "étape;idée\nmeurt;« Pouvoir vertical »\n".encode()),
    Attachment("mes_donnees.json", "application/json", b'{"a": 1}'),
    Attachment("latin1.txt", "text/plain", "caf\xe9".encode("latin-1")),  # not UTF-8
    Attachment("sans-type", "application", b"\x00\x01"),
)


def parts(msg: EmailMessage) -> list[tuple[str, str | None, str | None, bytes]]:
    return [
        (
            p.get_content_type(),
            p.get_content_charset(),
            p.get_filename(),
            p.get_payload(decode=True),
        )
        for p in msg.iter_attachments()
        if isinstance(p, EmailMessage)
    ]


def test_the_digest_and_a_plain_email_attach_files_alike() -> None:
    digest = build_email(
        sender="bot@example.org",
        recipient="equipe@example.org",
        subject="Digest",
        text="texte",
        html="<p>texte</p>",
        charts={},
        attachments=ATTACHMENTS,
        key="digest:equipe:2030-W01",
        now=datetime(2030, 1, 7, tzinfo=UTC),
    )
    adapter = EmailAdapter(SmtpConfig())
    plain = adapter._plain(
        Envelope(
            1,
            Address("mailto", "equipe@example.org"),
            OutboundMessage("x", attachments=ATTACHMENTS),
        )
    )
    assert parts(plain) == parts(digest)
    csv, data, latin, untyped = parts(plain)
    # Text as text with its charset, so that readers do not take UTF-8 for ASCII; bytes that
    # are not UTF-8 as they are.
    assert csv[:3] == ("text/csv", "utf-8", "synthese.csv")
    assert csv[3] == ATTACHMENTS[0].data
    assert data == ("application/json", None, "mes_donnees.json", b'{"a": 1}')
    assert latin[3] == ATTACHMENTS[2].data
    assert untyped[0] == "application/octet-stream"
