"""Name each theme with its most telling words: the terms frequent in the theme and rare in
the step's other themes (class-based TF-IDF).

Terms are words folded as the TF-IDF themes fold them (plurals and inflections merged, stop
words and numbers never a term) and pairs of neighbouring words; a hyphenated compound
("tiers-lieux", "vélo-cargo") stays one word. A pair that explains its theme as well as its
words alone is shown instead of them ("pistes cyclables", not "pistes" and "cyclables").

A term must come from :data:`LABEL_PEOPLE` citizens or more (each text's author is given;
:class:`~qn_bot.digest.themes.Voices`, the rule the keyword themes keep too): a label never holds
words only one citizen used, however often they wrote them, and a group without such a word has
no label — it is never named after a citizen's own sentence.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Hashable, Sequence
from itertools import pairwise

from qn_bot.digest.themes import LABEL_PEOPLE as LABEL_PEOPLE  # the rule's, imported from here too
from qn_bot.digest.themes import Voices, fold, theme_key

#: Keywords shown per theme.
KEYWORDS = 3
# Letter runs joined by hyphens: a compound word is one token; digits are never part of one.
_TOKEN = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def _key(token: str, language: str) -> str | None:
    if "-" in token:
        parts = [theme_key(p, language) for p in token.split("-")]
        return None if all(p is None for p in parts) else fold(token)
    return theme_key(token, language)


def terms(text: str, language: str) -> dict[str, str]:
    """The text's terms: matching key → the form as written (lowercase)."""
    tokens = _TOKEN.findall(unicodedata.normalize("NFC", text))
    keyed = [(_key(tok, language), tok.casefold()) for tok in tokens]
    found: dict[str, str] = {}
    for key, form in keyed:
        if key is not None:
            found.setdefault(key, form)
    for (k1, f1), (k2, f2) in pairwise(keyed):
        if k1 is not None and k2 is not None and k1 != k2:
            found.setdefault(f"{k1} {k2}", f"{f1} {f2}")
    return found


def label_groups(
    groups: Sequence[Sequence[str]],
    language: str,
    *,
    authors: Sequence[Sequence[Hashable]],
    keywords: int = KEYWORDS,
) -> list[tuple[str, ...]]:
    """Per group of texts, its keywords, most telling first (empty when no term of it was used
    by :data:`LABEL_PEOPLE` citizens). ``authors``: each text's author, group by group."""
    per_text = [[terms(text, language) for text in group] for group in groups]
    total = sum(len(g) for g in groups)
    df: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    for group in per_text:
        for found in group:
            df.update(found.keys())
            for key, form in found.items():
                forms.setdefault(key, Counter())[form] += 1
    labels = []
    for number, group in enumerate(per_text):
        inside: Counter[str] = Counter()
        for found in group:
            inside.update(found.keys())
        size = max(len(group), 1)
        voices = Voices()
        for found, author in zip(group, authors[number], strict=True):
            voices.add(set(found), author)
        scored = []
        for key, n in inside.items():
            if not voices.shared(key):
                continue  # one citizen's word, however often written: it would point at them
            # Pairs count a little more: at equal spread, the phrase says more than its words.
            weight = 1.25 if " " in key else 1.0
            scored.append((weight * n / size * math.log(1 + total / df[key]), key))
        scored.sort(key=lambda s: (-s[0], s[1]))
        chosen: list[str] = []
        for _, key in scored:
            if any(key in c.split(" ") or c in key.split(" ") for c in chosen):
                continue
            chosen.append(key)
            if len(chosen) == keywords:
                break
        labels.append(tuple(_display(forms[key]) for key in chosen))
    return labels


def label_key(label: str, language: str) -> str | None:
    """The term a label stands for (a pair's key over its words'); None for no term."""
    found = terms(label, language)
    return max(found, key=len) if found else None


def _display(forms: Counter[str]) -> str:
    # The commonest written form; on a tie the shortest, then the one with accents.
    return min(forms, key=lambda f: (-forms[f], len(f), f == fold(f), f))
