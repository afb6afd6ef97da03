"""Taking a citizen's words out of messages that wait to be sent (or are kept once sent).

When a citizen erases themselves (/oublier) or deletes a message on their platform, messages
already queued for other people may hold their words: a facilitator's export not sent yet, a
team's digest. Those messages are still sent, without the words:

- in the text (and button labels), each occurrence of one of the texts — as typed, or on one
  line, or cut with "…" as digests shorten items — becomes "[…]";
- a file that holds one of the texts (in any of the forms exports write: Markdown, HTML, CSV,
  JSON; a ready-made e-mail is read part by part, decoded) is taken out of the message, and a
  line of the text says so: the recipient may ask for it again, it will be made without them.
  Rewriting a file in place could leave a variant behind (an escaped or shortened copy);
  taking it out cannot.

Pure functions: no I/O.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from qn_bot.domain import Attachment, OutboundMessage

REDACTED = "[…]"
#: A ready-made e-mail in the outbox (a team's digest: see qn_bot.adapters.email).
RFC822 = "message/rfc822"
ELLIPSIS = "…"
#: A shortened copy ("the beginning…") is recognised from this many characters on.
MIN_CUT = 12

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_TAG = re.compile(r"<[^>]*>")
_MD_ESCAPE = re.compile(r"\\(.)")


def one_line(text: str) -> str:
    """The text as digests and exports print it: NFC, no control characters, one line."""
    return " ".join(_CONTROL.sub("", unicodedata.normalize("NFC", text)).split())


def _searchable(text: str) -> str:
    """``text`` for a case-blind search: NFC, no control characters, case folded."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).casefold()


@dataclass(frozen=True, slots=True)
class _Words:
    line: str  # one_line(text), case folded for a case-blind search
    folded: bool
    pattern: re.Pattern[str]  # the text, any whitespace between its words
    cut: re.Pattern[str] | None  # its beginning followed by an ellipsis

    @classmethod
    def of(cls, text: str, *, folded: bool = False) -> _Words | None:
        line = one_line(text)
        if not line:
            return None
        flags = 0
        if folded:
            line, flags = line.casefold(), re.IGNORECASE
        words = r"\s+".join(re.escape(word) for word in line.split())
        cut = None
        if len(line) > MIN_CUT:
            head = r"\s+".join(re.escape(word) for word in line[:MIN_CUT].split(" ") if word)
            if line[MIN_CUT - 1] == " ":
                head += r"\s+"
            cut = re.compile(rf"(?<!\w){head}(?P<rest>[^\n{ELLIPSIS}]*){ELLIPSIS}", flags)
        return cls(line, folded, re.compile(rf"(?<!\w){words}(?!\w)", flags), cut)

    def _is_cut(self, match: re.Match[str]) -> bool:
        """Whether the match is this text's own beginning (not another text that starts alike
        and goes on differently)."""
        shown = " ".join(match.group(0)[: -len(ELLIPSIS)].split())
        return self.line.startswith(shown.casefold() if self.folded else shown)

    def redact(self, text: str) -> str:
        text = self.pattern.sub(REDACTED, text)
        if self.cut is not None:
            text = self.cut.sub(lambda m: REDACTED if self._is_cut(m) else m.group(0), text)
        return text

    def found_in(self, haystack: str) -> bool:
        if self.pattern.search(haystack):
            return True
        return self.cut is not None and any(self._is_cut(m) for m in self.cut.finditer(haystack))


def redact(
    message: OutboundMessage, texts: Sequence[str], *, dropped_note: Callable[[str], str]
) -> OutboundMessage | None:
    """``message`` without ``texts``; None when none of them is in it. ``dropped_note(filename)``
    is the line saying a file was taken out."""
    exact = [w for w in map(_Words.of, texts) if w is not None]
    folded = [w for w in (_Words.of(text, folded=True) for text in texts) if w is not None]
    if not exact:
        return None
    body = _redact(message.text, exact)
    buttons = tuple(replace(b, label=_redact(b.label, exact)) for b in message.buttons)
    kept: list[Attachment] = []
    dropped: list[Attachment] = []
    for attachment in message.attachments:
        (dropped if _mentions(attachment, folded) else kept).append(attachment)
    if dropped:
        body = "\n\n".join([body, *(dropped_note(a.filename) for a in dropped)]).strip()
    if body == message.text and buttons == message.buttons and not dropped:
        return None
    return OutboundMessage(body, buttons, tuple(kept))


def _redact(text: str, words: Sequence[_Words]) -> str:
    # Longest first: a text that contains another is taken out whole.
    for w in sorted(words, key=lambda w: -len(w.line)):
        text = w.redact(text)
    return text


def _mentions(attachment: Attachment, words: Sequence[_Words]) -> bool:
    if attachment.media_type == RFC822:
        contents = list(_email_parts(attachment.data))
    else:
        try:
            contents = [attachment.data.decode("utf-8")]
        except UnicodeDecodeError:
            return False  # an image (a digest's chart): no words in it
    haystack = "\n".join(
        _searchable(variant) for content in contents for variant in _readings(content)
    )
    return any(w.found_in(haystack) for w in words)


def _email_parts(data: bytes) -> Iterator[str]:
    """A ready-made e-mail's parts as its reader sees them: decoded from quoted-printable or
    base64, where the raw bytes hide the words (a soft line break can cut one in two)."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    for part in message.walk():
        if part.is_multipart():
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError):  # an unknown charset, a broken encoding
            content = part.get_payload(decode=True)
        if isinstance(content, str):
            yield content
        elif isinstance(content, bytes):
            try:
                yield content.decode("utf-8")
            except UnicodeDecodeError:
                continue  # an image (a digest's chart): no words in it


def _readings(content: str) -> Iterator[str]:
    """The file as each export format would be read back by a person."""
    yield content
    yield html.unescape(_TAG.sub(" ", content))  # HTML
    yield _MD_ESCAPE.sub(r"\1", content)  # Markdown's backslash escapes
    yield content.replace('""', '"')  # CSV's doubled quotes
    try:
        decoded = json.loads(content)
    except ValueError:
        return
    yield "\n".join(_strings(decoded))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
