"""Themes: the words that come back in a week's contributions, plurals and inflections merged.

A word names a theme only when at least :data:`LABEL_PEOPLE` distinct citizens used it
(:class:`Voices`): a word one citizen repeated would point at them. Every theme name of every
output keeps to that rule, by meaning (:mod:`qn_bot.themes.label`) or by keywords (here).

Compound words stay whole (« tiers-lieux », typed with or without its hyphen), and two words
that come back side by side in several contributions are one theme (« services publics »,
« circuits courts »); a word is then a theme of its own only if it also comes back without its
pair often enough. Stop words and numbers are never themes, nor are letters glued to a number
(« 10ème »).

Pure text analysis with light imports only (no database, no configuration): the digest's fold
process (:mod:`qn_bot.digest.fold`) starts from this module alone.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import chain, compress, pairwise

import snowballstemmer
from stop_words import get_stop_words

#: How many themes a section shows, and how many contributions make a theme "recurring".
MAX_THEMES = 5
MIN_THEME_COUNT = 2
#: Stems sharing this many leading letters are one theme: Snowball leaves "territoir" and
#: "territorial" apart, French readers do not.
THEME_PREFIX = 7
MIN_WORD_LENGTH = 3
#: The share of its rarer word's contributions a pair of words must hold to be a phrase.
PHRASE_SHARE = 0.5
#: Distinct citizens a word (or phrase) needs before it names a theme, in every output.
LABEL_PEOPLE = 2

# A run of letters, hyphens joining runs ("tiers-lieux"), never glued to a digit or "_" ("10ème").
_WORD_RE = re.compile(r"(?<!\w)[^\W\d_]+(?:-[^\W\d_]+)*(?!\w)")
# For letter_runs: every ASCII byte that is not a letter becomes a space (UTF-8 sequences of
# other characters only use bytes >= 0x80 and stay as they are); NUL separates texts.
_TEXT_SEPARATOR = "\x00"
# Digits, "-" and "_" stay: a text holding one is split by the regex, which knows their rules.
_KEPT = frozenset(b"0123456789-_")
_ASCII_GAPS = bytes(
    b if b >= 0x80 or b == 0 or chr(b).isalpha() or b in _KEPT else ord(" ") for b in range(256)
)
# Common non-ASCII punctuation, none of it a letter: spaced out too, so that answers typed with
# typographic apostrophes and quotes stay on the fast path.
_PUNCTUATION = "’‘«»“”…–—"  # ’‘«»“”…–—
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})
_STEMMER_LANGUAGES = {"fr": "french", "en": "english"}
# Words the stop-word lists lack but that carry no theme in these answers.
_EXTRA_STOP_WORDS = {
    "fr": (
        "etc",
        "cf",
        "tant",
        "autrement",
        "afin",
        "ainsi",
        "beaucoup",
        "toujours",
        "rien",
        "nouvel",
        "nouvelle",
        "nouvelles",  # "nouveau" and "nouveaux" are on the list already
    ),
    "en": ("etc", "cf", "also", "may", "might", "much", "many"),
}


@dataclass(frozen=True, slots=True)
class Theme:
    # The commonest written form, accents kept: "territoire"; "" (by meaning only, listed last)
    # for the groups of close ideas that no word of several citizens names, counted together.
    label: str
    count: int  # in how many contributions it appears


def fold(text: str) -> str:
    """Lowercase without accents or ligatures: the form words are matched in."""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_LIGATURES))
    return "".join(c for c in text if not unicodedata.combining(c))


@cache
def _stop_words(language: str) -> frozenset[str]:
    name = _STEMMER_LANGUAGES.get(language, "french")
    words = list(get_stop_words(name)) + list(_EXTRA_STOP_WORDS.get(language, ()))
    return frozenset(fold(w) for w in words)


@cache
def _stemmer(language: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(_STEMMER_LANGUAGES.get(language, "french"))


@lru_cache(maxsize=1 << 16)  # a week of answers repeats the same words; stemming is slow
def theme_key(word: str, language: str) -> str | None:
    """The matching key of a word, or None for stop words and short words.

    A compound ("tiers-lieux") or a pair of words ("tiers lieux") is keyed part by part, the
    keys joined by a space, so both spellings meet; None when it starts or ends with a stop word
    ("est-à-dire", "peut-être").
    """
    if "-" in word or " " in word:
        return _compound_key(word, language)
    word = unicodedata.normalize("NFC", word.casefold())
    folded = fold(word)
    if len(folded) < MIN_WORD_LENGTH or folded in _stop_words(language):
        return None
    # Snowball's French rules expect accents ("é" ends many suffixes), so stem first, fold after.
    stem = fold(_stemmer(language).stemWord(word))
    if language == "fr" and stem.endswith("qu"):
        stem = stem[:-2] + "c"  # public / publique, technique / technic…: one word
    if language == "fr" and stem.endswith("eux"):
        stem = stem[:-1]  # lieux / lieu, jeux / jeu: Snowball keeps the plural's x
    if len(stem) < MIN_WORD_LENGTH:
        return None
    return stem[:THEME_PREFIX]


def _compound_key(word: str, language: str) -> str | None:
    parts = [p for p in re.split(r"[- ]", word) if p]
    keys = [theme_key(p, language) for p in parts]
    if not keys or keys[0] is None or keys[-1] is None:
        return None
    return " ".join(k if k is not None else fold(p) for k, p in zip(keys, parts, strict=True))


def words(text: str) -> list[str]:
    """Letter runs: elisions (l’, d’, qu’) split words, hyphens join them ("tiers-lieux"),
    digits are dropped with the letters glued to them."""
    return _WORD_RE.findall(unicodedata.normalize("NFC", text))


def letter_runs(texts: Sequence[str]) -> list[list[str]]:
    """:func:`words` of each text, at a fraction of the regex's cost on a week of answers.

    The texts are joined and their ASCII punctuation, digits and spaces (and a few common
    typographic signs) turned into spaces in a handful of C-level passes over the whole batch;
    a text whose remaining pieces are all letters (``str.isalpha``) is then split on
    whitespace. Those pieces are exactly the regex's letter runs: everything removed is a
    non-letter, and the pieces hold letters only. Any other text (a "²", an emoji…) goes
    through the regex, as does the batch if a text holds the separator.
    """
    normal = [unicodedata.normalize("NFC", text) for text in texts]
    joined = _TEXT_SEPARATOR.join(normal)
    for sign in _PUNCTUATION:
        if sign in joined:
            joined = joined.replace(sign, " ")
    spaced = (
        joined.encode("utf-8", "surrogatepass")
        .translate(_ASCII_GAPS)
        .decode("utf-8", "surrogatepass")
        .split(_TEXT_SEPARATOR)
    )
    if len(spaced) != len(normal):
        return [_WORD_RE.findall(text) for text in normal]
    found = []
    for text, pieces in zip(normal, map(str.split, spaced), strict=True):
        found.append(pieces if "".join(pieces).isalpha() else _WORD_RE.findall(text))
    return found


def held_keys(words: Sequence[str], key: Callable[[str], str | None]) -> set[str]:
    """The theme keys a text holds: each word's, and each pair of neighbours' ("pist cyclabl"),
    so that a phrase theme (« pistes cyclables ») finds the texts it was counted from."""
    keyed = [key(w) for w in words]
    held = {k for k in keyed if k is not None}
    held.update(f"{a} {b}" for a, b in pairwise(keyed) if a is not None and b is not None)
    return held


class Voices:
    """Which terms at least :data:`LABEL_PEOPLE` distinct citizens used: the one naming rule of
    themes, fed text by text (a digest's big week streams through it).

    A term keeps only its first author until someone else uses it; from then on it costs one
    set lookup per text that holds it. Terms are any hashable keys (a word's, a pair's).
    """

    __slots__ = ("_first", "_more", "_shared")

    def __init__(self) -> None:
        self._first: dict[Hashable, Hashable] = {}
        self._more: dict[Hashable, set[Hashable]] = {}  # past two authors, were it ever needed
        self._shared: set[Hashable] = {None}  # None: a stop word's key, never a term

    def add(self, terms: AbstractSet[Hashable], author: Hashable) -> None:
        """One text's (or one author's texts') terms, as a set: ``set - set`` looks up the
        text's few terms, never the many shared ones."""
        first = self._first
        for term in terms - self._shared:
            if first.setdefault(term, author) != author:
                self._another(term, author)

    def add_many(self, texts: Iterable[AbstractSet[Hashable]], authors: Iterable[Hashable]) -> None:
        """:meth:`add`, inlined for a batch (a big week's fold): each text's terms and its
        author. Most texts hold only terms already shared (0.2 new terms a text in a week of
        170,000): one subset test each."""
        first, shared, another = self._first, self._shared, self._another
        for terms, author in zip(texts, authors, strict=True):
            if terms <= shared:
                continue
            for term in terms - shared:
                if first.setdefault(term, author) != author:
                    another(term, author)

    def _another(self, term: Hashable, author: Hashable) -> None:
        heard = self._more.setdefault(term, {self._first[term]})
        heard.add(author)
        if len(heard) >= LABEL_PEOPLE:
            self._shared.add(term)
            del self._first[term], self._more[term]

    def shared(self, *terms: Hashable) -> bool:
        """Whether these terms (spellings of one, such as a compound and its words apart) were
        used by :data:`LABEL_PEOPLE` distinct citizens between them."""
        heard: set[Hashable] = set()
        for term in terms:
            if term is None:
                continue
            if term in self._shared:
                return True
            if term in self._first:
                heard.add(self._first[term])
                heard.update(self._more.get(term, ()))
        return len(heard) >= LABEL_PEOPLE


class ThemeCounter:
    """Counts themes over texts fed in batches, so a week of contributions can be streamed.

    Per text the work is a regex pass and C-level set and Counter updates: a word's key is
    computed once per distinct spelling (stemming is the slow part, and a week repeats the same
    words), in a cache that counters of one language may share.
    """

    def __init__(self, language: str, keys: KeyCache | None = None) -> None:
        self.language = language
        self._keys = KeyCache(language) if keys is None else keys
        # key → contributions holding it; a pair of neighbouring words' keys as a tuple
        self._counts: Counter[str | tuple[str | None, str | None] | None] = Counter()
        self._spellings: Counter[str] = Counter()  # word as written → occurrences
        self._pairs: Counter[tuple[str, str]] = Counter()  # neighbours as written → occurrences
        self.voices = Voices()  # which keys several citizens used: only those name a theme

    def add(self, text: str, author: Hashable) -> None:
        self.add_many((text,), (author,))

    def add_many(self, texts: Iterable[str], authors: Iterable[Hashable]) -> None:
        """Count ``texts``, each written by its author in ``authors``."""
        found = letter_runs(list(texts))
        self._spellings.update(chain.from_iterable(found))
        key = self._keys.__getitem__
        keyed = [list(map(key, words)) for words in found]
        # Each contribution once per word (set and Counter stay in C) and once per pair of
        # neighbours; a pair with a stop word (a None key) is never a phrase, so it is neither
        # counted nor kept as written — most pairs of a French sentence hold one.
        held = [set(k) for k in keyed]
        self._counts.update(chain.from_iterable(held))
        pairs: list[set[tuple[str, str]]] = []
        written: list[tuple[str, str]] = []
        for words, keys in zip(found, keyed, strict=True):
            mine: set[tuple[str, str]] = set()
            for n in range(len(keys) - 1):
                first, second = keys[n], keys[n + 1]
                if first is not None and second is not None:
                    mine.add((first, second))
                    written.append((words[n], words[n + 1]))
            pairs.append(mine)
        self._counts.update(chain.from_iterable(pairs))
        self._pairs.update(written)
        by = list(authors)
        self.voices.add_many(held, by)
        self.voices.add_many(pairs, by)

    def theme_counts(self, min_count: int = MIN_THEME_COUNT) -> dict[str, int]:
        """Theme key → contributions, for every theme counted at least ``min_count`` times.

        A pair of neighbouring words is a phrase when it holds at least :data:`PHRASE_SHARE` of
        the contributions of its rarer word: « circuits courts » is, two common words that
        happen to meet in a big week are not. A compound ("tiers-lieux") always is; its pairs
        spelled apart ("tiers lieux") add up with it. A word inside a phrase stays a theme if it
        comes back without it often enough ("services" beside "services publics"). A word or a
        phrase fewer than :data:`LABEL_PEOPLE` citizens used is no theme, however often they
        wrote it.
        """
        words: dict[str, int] = {}
        pairs: list[tuple[str, str, int]] = []
        for key, count in self._counts.items():
            if isinstance(key, str):
                words[key] = count
            elif isinstance(key, tuple) and key[0] is not None and key[1] is not None:
                pairs.append((key[0], key[1], count))  # no stop word stands between
        merged = Counter(words)
        spelled: dict[str, tuple[str, str]] = {}  # a phrase → its words apart, counted with it
        for first, second, count in pairs:
            if count >= PHRASE_SHARE * min(words.get(first, 0), words.get(second, 0)):
                phrase = f"{first} {second}"
                merged[phrase] += count
                spelled[phrase] = (first, second)
        voices = self.voices

        def heard(key: str) -> bool:
            pair = spelled.get(key)
            return voices.shared(key) if pair is None else voices.shared(key, pair)

        named = {key: count for key, count in merged.items() if count >= min_count and heard(key)}
        within: dict[str, int] = {}
        for phrase, count in named.items():
            if " " in phrase:
                for part in phrase.split(" "):
                    within[part] = max(within.get(part, 0), count)
        return {
            key: count for key, count in named.items() if count - within.get(key, 0) >= min_count
        }

    def result(
        self, *, min_count: int = MIN_THEME_COUNT, limit: int = MAX_THEMES
    ) -> tuple[Theme, ...]:
        counted = list(self.theme_counts(min_count).items())
        if len(counted) > limit:
            # Only keys counted at least as often as the last shown one can be shown (ties are
            # broken by label): the written forms of the others are never looked at.
            least = heapq.nlargest(limit, (count for _, count in counted))[-1]
            counted = [(key, count) for key, count in counted if count >= least]
        wanted = {key for key, _ in counted}
        key_of = self._keys.__getitem__
        forms: dict[str | None, Counter[str]] = {key: Counter() for key in wanted}
        # compress/map keep the pass over every spelling in C; only wanted ones reach Python.
        spellings = self._spellings
        for word in compress(spellings, map(wanted.__contains__, map(key_of, spellings))):
            forms[key_of(word)][unicodedata.normalize("NFC", word.casefold())] += spellings[word]
        if any(" " in key for key in wanted):
            for (first, second), n in self._pairs.items():
                one, two = key_of(first), key_of(second)
                if one is not None and two is not None and f"{one} {two}" in wanted:
                    written = f"{first} {second}".casefold()
                    forms[f"{one} {two}"][unicodedata.normalize("NFC", written)] += n
        found = [Theme(_label(forms[key]), count) for key, count in counted]
        found.sort(key=lambda t: (-t.count, fold(t.label), t.label))
        return tuple(found[:limit])


class KeyCache(dict[str, str | None]):
    """word → :func:`theme_key`, computed on first lookup."""

    def __init__(self, language: str) -> None:
        super().__init__()
        self.language = language

    def __missing__(self, word: str) -> str | None:
        key = self[word] = theme_key(word, self.language)
        return key


def themes(
    texts: Iterable[str],
    language: str,
    *,
    authors: Iterable[Hashable],
    min_count: int = MIN_THEME_COUNT,
    limit: int = MAX_THEMES,
) -> tuple[Theme, ...]:
    """Words that come back in several contributions of :data:`LABEL_PEOPLE` citizens or more
    (``authors``: each text's), plurals and inflections merged.

    A theme counts contributions, not words: one answer repeating "territoire" counts once.
    Sorted by count, then alphabetically (accent-insensitive) for a stable order.
    """
    counter = ThemeCounter(language)
    counter.add_many(texts, authors)
    return counter.result(min_count=min_count, limit=limit)


def _label(forms: Counter[str]) -> str:
    # The commonest form; on a tie the shortest (the singular, usually), then with accents
    # ("numérique" over "numerique": someone who typed the accents spelled it as displayed).
    return min(forms, key=lambda f: (-forms[f], len(f), f == fold(f), f))
