"""The digest's fast paths give what the plain ones give: word splitting, themes, the fold."""

from __future__ import annotations

import queue
import random
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from qn_bot.digest.fold import FoldError, FoldProcess, PeriodFold
from qn_bot.digest.themes import Theme, ThemeCounter, _label, fold, letter_runs, themes, words

# Letters of several scripts, combining accents, digits of several kinds, "_", punctuation
# ASCII and typographic, spaces of several kinds, NUL (the batch separator), a lone surrogate.
_CHARS = (
    "abcXYZ éèàçœÆßſﬁΣσς日本語 e\u0301 'ʼ’‘-_,.;:!?«»“”…–—()\"/"
    "0123456789²½Ⅻ٣\t\n\r\x00\u00a0\u2009\u3000🙂\ud800"
)


def test_letter_runs_split_like_the_regex() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        texts = ["".join(rng.choices(_CHARS, k=rng.randint(0, 40))) for _ in range(6)]
        if rng.random() < 0.7:
            texts = [t.replace("\x00", "") for t in texts]  # most batches take the fast path
        assert letter_runs(texts) == [words(t) for t in texts], texts


def test_letter_runs_of_plain_french() -> None:
    texts = ["L’école d'abord, puis 2 collèges…", "« Données » ouvertes—publiques", ""]
    assert letter_runs(texts) == [
        ["L", "école", "d", "abord", "puis", "collèges"],
        ["Données", "ouvertes", "publiques"],
        [],
    ]


def _themes_as_before(counter: ThemeCounter, min_count: int, limit: int) -> tuple[Theme, ...]:
    """ThemeCounter.result written plainly: every key's forms, every phrase merged."""
    forms: dict[str, Counter[str]] = {}
    for word, n in counter._spellings.items():
        key = counter._keys[word]
        if key is not None:
            forms.setdefault(key, Counter())[unicodedata.normalize("NFC", word.casefold())] += n
    for (first, second), n in counter._pairs.items():
        one, two = counter._keys[first], counter._keys[second]
        if one is not None and two is not None:
            written = unicodedata.normalize("NFC", f"{first} {second}".casefold())
            forms.setdefault(f"{one} {two}", Counter())[written] += n
    found = [
        Theme(_label(forms[key]), count) for key, count in counter.theme_counts(min_count).items()
    ]
    found.sort(key=lambda t: (-t.count, fold(t.label), t.label))
    return tuple(found[:limit])


@pytest.mark.parametrize("limit", [1, 3, 5, 50])
def test_themes_with_many_ties_as_before(limit: int) -> None:
    rng = random.Random(limit)
    vocabulary = [
        "territoire",
        "territoires",
        "Territoire",
        "numérique",
        "numerique",
        "école",
        "écoles",
        "public",
        "publique",
        "données",
        "santé",
        "climat",
        "énergie",
        "énergies",
    ]
    counter = ThemeCounter("fr")
    texts = [" ".join(rng.choices(vocabulary, k=4)) for _ in range(60)]
    counter.add_many(texts, [rng.randrange(20) for _ in texts])
    for min_count in (1, 2, 30):
        expected = _themes_as_before(counter, min_count, limit)
        assert counter.result(min_count=min_count, limit=limit) == expected


def _rows(texts: Sequence[str]) -> list[tuple[Any, ...]]:
    return [
        ("pourquoi", text, n % 3, f"2026-11-2{n % 7} 10:00:00", n) for n, text in enumerate(texts)
    ]


def test_a_failing_thread_fold_still_drains_its_queue() -> None:
    """Whoever waits for the queue to be done (the reader) is never left waiting."""
    pending: queue.Queue[Sequence[Any] | None] = queue.Queue()
    pending.put([("pourquoi",)])  # too short a row: the fold fails
    pending.put(_rows(["une école"]))
    pending.put(None)
    with pytest.raises(IndexError):
        PeriodFold(["pourquoi"], "fr", 2).consume(pending)
    assert pending.unfinished_tasks == 0


async def test_the_fold_process_folds_like_the_thread() -> None:
    texts = ["Les territoires ruraux", "le territoire d'abord", "l'école du territoire"] * 5
    here = PeriodFold(["pourquoi", "meurt"], "fr", 2)
    here.add(_rows(texts[:7]))
    here.add(_rows(texts[7:]))
    process = await FoldProcess.start(["pourquoi", "meurt"], "fr", 2)
    try:
        await process.add(_rows(texts[:7]))
        await process.add(_rows(texts[7:]))
        assert await process.result() == here.result()
    finally:
        await process.close()


async def test_a_failing_fold_process_is_an_error_not_a_hang() -> None:
    process = await FoldProcess.start(["pourquoi"], "fr", 2)
    try:
        await process.add([("pourquoi",)])  # too short a row: the process fails
        with pytest.raises(FoldError, match="IndexError"):
            await process.result()
    finally:
        await process.close()


# --- phrases, stop words, numbers (issue 13 item 12) --------------------------------------------


def labels(texts: list[str], language: str = "fr") -> list[tuple[str, int]]:
    return [(t.label, t.count) for t in themes(texts, language, authors=range(len(texts)))]


def test_compound_words_stay_whole() -> None:
    found = labels(["Des tiers-lieux partout", "Les tiers-lieux ruraux", "Un tiers lieu culturel"])
    # "tiers lieu" typed without the hyphen is the same thing; "tiers" and "lieux" alone are not
    # themes of their own.
    assert found == [("tiers-lieux", 3)]


def test_recurring_pairs_of_words_are_one_theme() -> None:
    found = labels(
        [
            "Des services publics de proximité",
            "Les services publics en ligne",
            "Des circuits courts alimentaires",
            "circuits courts et producteurs locaux",
            "Un service de transport",  # "service" also alone: not enough for a theme
        ]
    )
    assert found == [("circuits courts", 2), ("services publics", 2)]


def test_a_word_that_also_comes_back_alone_stays_a_theme() -> None:
    found = labels(
        ["services publics", "services publics", "des services à domicile", "services mutualisés"]
    )
    assert found == [("services", 4), ("services publics", 2)]


def test_no_theme_made_of_a_stop_word_or_a_number() -> None:
    texts = [
        "En 2030, le 10ème arrondissement",
        "Au 21e siècle, 2030 sera là",
        "2030 2030 10ème 21e",
        "Il faut faire plus, c'est-à-dire peut-être mieux",
        "c'est-à-dire peut-être",
    ]
    found = labels(texts)
    assert all(not any(c.isdigit() for c in label) for label, _ in found), found
    assert ("ème", 2) not in found
    for stop in ("faut", "faire", "plus", "c'est-à-dire", "est-à-dire", "peut-être"):
        assert all(stop not in label for label, _ in found), found


def test_voices_count_distinct_citizens_up_to_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from qn_bot.digest import themes as rule

    voices = rule.Voices()
    voices.add({"velo", None}, "ann")
    voices.add({"velo"}, "ann")
    assert not voices.shared("velo")  # one citizen, however often
    voices.add_many([{"velo", "zorg"}, {("pist", "cyclabl")}], ["bob", "cyd"])
    assert voices.shared("velo")
    assert not voices.shared("zorg")
    assert not voices.shared(None)  # a stop word is no term
    # Spellings of one term count together: a compound one citizen wrote, its words apart
    # another.
    voices.add({"tier lieu"}, "dan")
    assert voices.shared("tier lieu", ("pist", "cyclabl")) is True  # cyd and dan
    monkeypatch.setattr(rule, "LABEL_PEOPLE", 3)
    three = rule.Voices()
    for author in ("ann", "bob", "bob"):
        three.add({"velo"}, author)
    assert not three.shared("velo")
    three.add({"velo"}, "cyd")
    assert three.shared("velo")
