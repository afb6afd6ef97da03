"""A ready-made e-mail (a team's digest, queued as message/rfc822) is read as its recipient
would read it: its parts decoded. On the wire a long line is quoted-printable (soft breaks cut
words) and an attached synthesis is base64 — neither shows the words in the raw bytes."""

from __future__ import annotations

from datetime import UTC, datetime

from qn_bot.digest.email import build_email
from qn_bot.domain import Attachment, OutboundMessage
from qn_bot.redaction import redact

LONG = (
    "Zéphyrine veut des jardins partagés sur chaque toit de la ville, avec des bacs de compost "
    "et une école de jardinage ouverte le samedi, marqueur 91c4"
)


def digest(text: str, attachment_text: str) -> OutboundMessage:
    email = build_email(
        sender="qn-bot@example.org",
        recipient="equipe@example.org",
        subject="Digest",
        text=text,
        html=f"<p>{text}</p>",
        charts={},
        attachments=(
            Attachment("synthese.html", "text/html", attachment_text.encode("utf-8")),
            Attachment("graphique.bin", "application/octet-stream", attachment_text.encode()),
        ),
        key="digest:equipe:2026-01-12",
        now=datetime(2026, 1, 19, 8, 0, tzinfo=UTC),
    )
    raw = email.as_bytes()
    assert LONG.encode() not in raw  # encoded on the wire: a byte search cannot see it
    return OutboundMessage("Digest", attachments=(Attachment("digest.eml", "message/rfc822", raw),))


def note(filename: str) -> str:
    return f"retiré : {filename}"


def test_an_email_holding_the_words_in_its_body_is_taken_out() -> None:
    message = digest(f"Nouvelles idées : {LONG}", "<li>Une autre idée</li>")
    redacted = redact(message, [LONG], dropped_note=note)
    assert redacted is not None
    assert redacted.attachments == ()
    assert "retiré : digest.eml" in redacted.text


def test_an_email_holding_the_words_in_an_attachment_is_taken_out() -> None:
    message = digest("Rien de neuf", f"<li>{LONG}</li>")
    redacted = redact(message, [LONG], dropped_note=note)
    assert redacted is not None
    assert redacted.attachments == ()


def test_an_email_without_the_words_is_kept() -> None:
    message = digest("Rien de neuf", "<li>Une autre idée</li>")
    assert redact(message, [LONG], dropped_note=note) is None
