"""The theme of each item of a section, for recaps: the one function recaps get themes from.

Today it groups by the digest's TF-IDF keyword themes (:mod:`qn_bot.digest.themes`): an item
falls in the first theme (most contributions first) whose word it holds. Themes by meaning
(issue 14 §2) replace the body of :func:`item_themes`; its contract stays:

- themes are made from ``public`` items only (what a public output may see);
- ``placed`` items (the citizen's own items that moderation keeps out of public outputs) are
  put in the theme they fit, without shaping or counting towards any theme;
- every item is in at most one theme; themes come most contributions first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qn_bot.digest.themes import MAX_THEMES, KeyCache, themes, words


@dataclass(frozen=True, slots=True)
class ThemeInput:
    item_id: int
    text: str


@dataclass(frozen=True, slots=True)
class ItemThemes:
    labels: tuple[str, ...]  # most contributions first
    of: dict[int, int]  # item id → index in ``labels``; an item in no theme is absent


def item_themes(
    public: Sequence[ThemeInput],
    language: str,
    *,
    placed: Sequence[ThemeInput] = (),
    limit: int = MAX_THEMES,
) -> ItemThemes:
    """The themes of one section's ``public`` items and which theme each item (and each
    ``placed`` one) falls in."""
    found = themes((i.text for i in public), language, limit=limit)
    keys = KeyCache(language)
    wanted = [keys[theme.label] for theme in found]
    of: dict[int, int] = {}
    for item in (*public, *placed):
        held = {keys[word] for word in words(item.text)}
        for index, key in enumerate(wanted):
            if key is not None and key in held:
                of[item.item_id] = index
                break
    return ItemThemes(tuple(theme.label for theme in found), of)
