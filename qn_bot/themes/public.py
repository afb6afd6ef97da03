"""What a public page may show of a campaign's themes (the site).

A theme is shown only in a section the disclosure shows, and only when at least ``minimum``
distinct participants gave an item in it: a small theme would point at its few authors even in a
big section. Hidden items are never in the themes (moderation's filter is at the read). Groups of
close ideas that no word of several citizens names are counted together, never named
(« Autres idées proches »).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qn_bot.disclosure import Disclosure
from qn_bot.themes.compute import METHOD_TFIDF, StepTheme, StepThemes


@dataclass(frozen=True, slots=True)
class ShownTheme:
    label: str  # "" for the unnamed groups counted together
    count: int  # items
    people: int  # distinct participants


@dataclass(frozen=True, slots=True)
class SectionThemes:
    themes: tuple[ShownTheme, ...]  # most items first
    withheld: int  # themes left out for their few participants
    fallback_reason: str | None  # set when these are TF-IDF keyword themes
    others: ShownTheme | None = None  # the shown groups that no shared word names, together


def public_themes(
    found: Sequence[StepThemes], disclosure: Disclosure
) -> Mapping[str, SectionThemes]:
    """Each shown section's themes, those under the threshold withheld (counted, not named)."""
    out: dict[str, SectionThemes] = {}
    for step in found:
        if not step.themes or not disclosure.shows(step.step):
            continue
        shown: list[ShownTheme] = []
        withheld = 0
        unnamed: list[StepTheme] = []
        for theme in step.themes:
            people = len({i.participant for i in theme.items})
            if people < disclosure.minimum:
                withheld += 1
            elif theme.theme:
                shown.append(ShownTheme(theme.theme, theme.count, people))
            else:
                unnamed.append(theme)
        others = None
        if unnamed:
            who = {i.participant for theme in unnamed for i in theme.items}
            others = ShownTheme("", sum(t.count for t in unnamed), len(who))
        reason = (step.fallback_reason or "keywords") if step.method == METHOD_TFIDF else None
        out[step.step] = SectionThemes(tuple(shown), withheld, reason, others)
    return out
