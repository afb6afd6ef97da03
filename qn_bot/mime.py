"""Files as e-mail parts: one way for every e-mail the bot builds (the digest's, and a plain
message the e-mail adapter sends to a ``mailto:`` address)."""

from __future__ import annotations

from email.message import EmailMessage

from qn_bot.domain import Attachment


def attach(msg: EmailMessage, attachment: Attachment) -> None:
    """Add ``attachment`` to ``msg``. Text goes as text with its charset, so that readers do
    not take UTF-8 for ASCII; text that is not UTF-8, and everything else, as bytes."""
    maintype, _, subtype = attachment.media_type.partition("/")
    if maintype == "text":
        try:
            text = attachment.data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            msg.add_attachment(
                text, subtype=subtype or "plain", charset="utf-8", filename=attachment.filename
            )
            return
    msg.add_attachment(
        attachment.data,
        maintype=maintype,
        subtype=subtype or "octet-stream",
        filename=attachment.filename,
    )
