"""Which themes a public page may name (qn_bot.themes.public): golden cases."""

from __future__ import annotations

from qn_bot.disclosure import Disclosure
from qn_bot.themes.compute import (
    METHOD_EMBEDDINGS,
    METHOD_TFIDF,
    NOT_EMBEDDED,
    StepTheme,
    StepThemes,
    ThemeItem,
)
from qn_bot.themes.public import SectionThemes, ShownTheme, public_themes


def theme(label: str, *people: str) -> StepTheme:
    return StepTheme("idees", label, (label,), tuple(ThemeItem(p, f"{label} {p}") for p in people))


def test_a_theme_of_fewer_people_than_the_threshold_is_withheld() -> None:
    found = StepThemes(
        "idees",
        METHOD_EMBEDDINGS,
        (
            theme("vélo", "a", "b", "c", "a"),  # four items, three people
            theme("loyers", "a", "b", "b"),  # three items, two people: withheld
        ),
    )
    shown = public_themes([found], Disclosure(3, {"idees": 3}))
    assert shown == {"idees": SectionThemes((ShownTheme("vélo", 4, 3),), 1, None)}


def test_a_withheld_section_shows_no_theme_and_keywords_say_why() -> None:
    found = [
        StepThemes("idees", METHOD_TFIDF, (theme("vélo", "a", "b"),), fallback_reason=NOT_EMBEDDED),
        StepThemes("freins", METHOD_EMBEDDINGS, (theme("bus", "a", "b"),)),
    ]
    shown = public_themes(found, Disclosure(2, {"idees": 2, "freins": 1}))
    assert shown == {"idees": SectionThemes((ShownTheme("vélo", 2, 2),), 0, NOT_EMBEDDED)}


def test_groups_no_shared_word_names_are_counted_together_never_named() -> None:
    found = StepThemes(
        "idees",
        METHOD_EMBEDDINGS,
        (
            theme("vélo", "a", "b", "c"),
            theme("", "d", "e", "f", "d"),  # close ideas, no word two of them used
            theme("", "g", "h", "d"),
            theme("", "i", "j"),  # two people: withheld, like any small group
        ),
    )
    shown = public_themes([found], Disclosure(3, {"idees": 3}))
    assert shown == {
        "idees": SectionThemes((ShownTheme("vélo", 3, 3),), 1, None, ShownTheme("", 7, 5))
    }
