"""A digest's themes by meaning: the period's stored vectors grouped like every other theme
(:func:`qn_bot.themes.history.group_week`, named by words several citizens used); where too few
of the period's items are embedded, the fold's TF-IDF themes stand (the fallback). Nothing is
embedded here. The weeks before, the trends, the chart's lines and the links between sections
come after, from the kept weeks (:mod:`.digest_history`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from qn_bot.digest.period import Period
from qn_bot.digest.themes import MAX_THEMES, Theme
from qn_bot.repositories import Transaction
from qn_bot.themes.cluster import MIN_VECTORS
from qn_bot.themes.compute import NO_MEANING_THEME, NOT_EMBEDDED
from qn_bot.themes.embedding import MODEL_NAME
from qn_bot.themes.history import WeekGroup, group_week


async def period_themes(
    tx: Transaction,
    campaign_id: int,
    steps: Sequence[str],
    period: Period,
    language: str,
    fallback: Mapping[str, tuple[Theme, ...]],
) -> tuple[dict[str, tuple[Theme, ...]], dict[str, str], dict[str, WeekGroup]]:
    """Each text step's themes in ``period``: by meaning, or ``fallback``'s (TF-IDF); per step
    whose shown themes are ``fallback``'s, why; and per step grouped by meaning, its grouping
    (what the period's kept week, its trends and its links are made from)."""
    out = dict(fallback)
    reasons: dict[str, str] = {}
    groups: dict[str, WeekGroup] = {}
    for step in steps:
        embedded = await tx.vectors.count_vectors(
            campaign_id, step, MODEL_NAME, period.start, period.end
        )
        if embedded < MIN_VECTORS:
            if fallback.get(step):
                reasons[step] = NOT_EMBEDDED
            continue
        rows = await tx.vectors.step_vectors(
            campaign_id, step, MODEL_NAME, since=period.start, until=period.end
        )
        grouped = await asyncio.to_thread(
            group_week, rows, language, period.start, period.end, limit=MAX_THEMES
        )
        if grouped is None:
            if fallback.get(step):
                public = sum(r.vector is not None for r in rows)  # hidden ones were counted
                reasons[step] = NOT_EMBEDDED if public < MIN_VECTORS else NO_MEANING_THEME
            continue
        groups[step] = grouped
        # Groups that no word of several citizens names are counted together, last, never
        # named (« autres idées proches »): a name would be one citizen's sentence.
        unnamed = sum(g.count for g in grouped.themes if not g.label)
        named = tuple(Theme(g.label, g.count) for g in grouped.themes if g.label)
        out[step] = (*named, Theme("", unnamed)) if unnamed else named
    return out, reasons, groups
