"""The theme of each item of a section, for recaps: the one function recaps get themes from.

It groups by meaning from the stored vectors, the same way as the digest, the site and
``qn-bot themes`` (:func:`qn_bot.themes.compute.group_items`), and falls back to the TF-IDF
keyword themes when too few items are embedded. Its contract:

- themes are made from ``public`` items only (what a public output may see);
- ``placed`` items (the citizen's own items that moderation keeps out of public outputs) are
  put in the theme they fit, without shaping or counting towards any theme;
- every item is in at most one theme; themes come most contributions first;
- a theme is named only by a word several citizens used (``authors``); a group of close ideas
  without one has the label "" and is never named.

Only stored vectors are read: nothing here embeds, so ``/bilan`` never waits for the model; an
item not embedded yet is placed by its theme's words, or in no theme.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from qn_bot.digest.themes import MAX_THEMES


@dataclass(frozen=True, slots=True)
class ThemeInput:
    item_id: int
    text: str
    vector: bytes | None = None  # its stored vector (current revision), None: not embedded


@dataclass(frozen=True, slots=True)
class ItemThemes:
    labels: tuple[str, ...]  # most contributions first; "" for a group no shared word names
    of: dict[int, int]  # item id → index in ``labels``; an item in no theme is absent
    counts: tuple[int, ...] = ()  # public items per theme
    keywords: tuple[tuple[str, ...], ...] = ()
    method: str = ""
    fallback_reason: str | None = None


def item_themes(
    public: Sequence[ThemeInput],
    language: str,
    *,
    authors: Mapping[int, Hashable],
    placed: Sequence[ThemeInput] = (),
    limit: int = MAX_THEMES,
) -> ItemThemes:
    """The themes of one section's ``public`` items (``authors``: each one's author) and which
    theme each item (and each ``placed`` one) falls in."""
    # numpy comes with the grouping: loaded when a recap is made, not with the chat's code.
    from qn_bot.themes.compute import group_items

    grouped = group_items(
        [(i.item_id, i.text, i.vector) for i in public],
        language,
        authors=authors,
        placed=[(i.item_id, i.text, i.vector) for i in placed],
        limit=limit,
    )
    return ItemThemes(
        grouped.labels,
        grouped.of,
        grouped.counts,
        grouped.keywords,
        grouped.method,
        grouped.fallback_reason,
    )
