"""Signatures (/signer): what a citizen may sign with, and when two signatures are one name.

Two signatures are the same name when they read the same: compared after NFKC, without case,
accents, spaces or invisible characters (zero-width, bidi marks), and with look-alike characters
folded together — Cyrillic « Р » and Latin « P », the digit 0 and the letter O… — as Unicode's
confusables data (UTS #39, shipped by the confusable-homoglyphs package) says. The database
keeps a digest of that comparison key under a unique index (store.schema, participants
.signature_key): two citizens signing one name at the same instant cannot both get it.

A signature that looks like a pseudonym (``P-1A2B3C4D``, in any disguise) is refused: exports
name anonymous participants by pseudonym, and one citizen must never pass for another.
"""

from __future__ import annotations

import enum
import hashlib
import re
import string
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache

from qn_bot.text import normalize, shorten

#: Longest signature shown (characters); longer ones are shortened with « … ».
MAX_SIGNATURE = 60

# Dropped before comparing: invisible (format, control) characters, combining marks (accents,
# once decomposed) and separators. Spaces count as nothing: "Ana Lopez" is "AnaLopez".
_NOT_COMPARED = frozenset({"Cf", "Cc", "Cs", "Co", "Mn", "Me", "Zs", "Zl", "Zp"})
# The confusables data wraps right-to-left characters in left-to-right marks for display.
_DISPLAY_MARKS = str.maketrans("", "", "\u200e\u200f")


class SignatureProblem(enum.Enum):
    EMPTY = "empty"  # nothing left once cleaned: /signer alone means "anonymous again"
    NO_LETTER = "no_letter"  # digits, punctuation or emoji only
    PSEUDONYM = "pseudonym"  # looks like P-XXXXXXXX: would pass for an anonymous participant


@dataclass(frozen=True, slots=True)
class Signature:
    text: str  # as shown: one line, invisible characters removed, shortened
    key: str  # digest of the comparison key: equal keys, one name


@cache
def _prototypes() -> dict[str, str]:
    """Each confusable character → the one character (or sequence) that stands for its group.

    The package gives, for every character, the characters it can be confused with (UTS #39's
    source → prototype pairs, both ways). A group is a connected set of them; its prototype is
    the member most others map to (UTS #39's own prototype), ties broken by code point."""
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    degree: Counter[str] = Counter()
    for source, glyphs in confusables_data.items():
        for glyph in glyphs:
            target = str(glyph["c"]).translate(_DISPLAY_MARKS)
            degree[source] += 1
            degree[target] += 1
            a, b = find(source), find(target)
            if a != b:
                parent[a] = b
    groups: defaultdict[str, list[str]] = defaultdict(list)
    for node in list(parent):
        groups[find(node)].append(node)
    mapping: dict[str, str] = {}
    for members in groups.values():
        prototype = min(members, key=lambda m: (-degree[m], len(m), m))
        for member in members:
            if len(member) == 1 and member != prototype:
                mapping[member] = prototype
    return mapping


def _fold(text: str, *, spaces: bool) -> str:
    prototypes = _prototypes()
    out = unicodedata.normalize("NFKC", text).casefold()
    # A prototype may itself decompose, carry an accent or be upper case: fold until stable.
    for _ in range(4):
        chars: list[str] = []
        for ch in unicodedata.normalize("NFD", out):
            category = unicodedata.category(ch)
            if category in _NOT_COMPARED:
                if spaces and category[0] == "Z" and chars and chars[-1] != " ":
                    chars.append(" ")
                continue
            chars.append(prototypes.get(ch, ch))
        folded = unicodedata.normalize("NFKC", "".join(chars)).casefold().strip()
        if folded == out:
            break
        out = folded
    return out


def comparison_key(text: str) -> str:
    """What two signatures must share to be one name (not for display: a UTS #39 skeleton)."""
    return _fold(text, spaces=False)


@cache
def _pseudonym_shape() -> re.Pattern[str]:
    """A pseudonym (``P-`` and at least four hexadecimal digits, whatever they look like) in a
    folded text that kept its spaces."""
    hex_digits = sorted({comparison_key(ch) for ch in string.hexdigits.lower()})
    chars = "|".join(re.escape(h) for h in hex_digits)
    return re.compile(
        rf"(?<![a-z0-9]){re.escape(comparison_key('p'))} ?{re.escape(comparison_key('-'))} ?"
        rf"(?:(?:{chars}) ?){{4,}}"
    )


def _has_letter(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("L") for ch in text)


def parse_signature(raw: str) -> Signature | SignatureProblem:
    """The signature a citizen typed after /signer, or why it cannot be one."""
    cleaned = "".join(ch for ch in normalize(raw) if unicodedata.category(ch) not in ("Cf",))
    text = shorten(cleaned, MAX_SIGNATURE)
    if not text:
        return SignatureProblem.EMPTY
    if not _has_letter(text):
        return SignatureProblem.NO_LETTER
    if _pseudonym_shape().search(_fold(text, spaces=True)):
        return SignatureProblem.PSEUDONYM
    key = hashlib.sha256(comparison_key(text).encode()).hexdigest()
    return Signature(text, key)
