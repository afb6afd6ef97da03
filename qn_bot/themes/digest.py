"""A digest's themes by meaning: the period's stored vectors grouped like every other theme
(:func:`qn_bot.themes.compute.group_items`); where too few of the period's items are embedded,
the fold's TF-IDF themes stand (the fallback). Nothing is embedded here."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from qn_bot.digest.period import Period
from qn_bot.digest.themes import MAX_THEMES, Theme
from qn_bot.repositories import Transaction
from qn_bot.themes.cluster import MIN_VECTORS
from qn_bot.themes.compute import (
    METHOD_EMBEDDINGS,
    NO_MEANING_THEME,
    NOT_EMBEDDED,
    Grouped,
    group_items,
)
from qn_bot.themes.embedding import MODEL_NAME
from qn_bot.themes.trends import Trend, WeekTheme, trends


async def period_themes(
    tx: Transaction,
    campaign_id: int,
    steps: Sequence[str],
    period: Period,
    language: str,
    fallback: Mapping[str, tuple[Theme, ...]],
    previous: Period | None = None,
) -> tuple[dict[str, tuple[Theme, ...]], dict[str, str], dict[str, tuple[Trend, ...]]]:
    """Each text step's themes in ``period``: by meaning, or ``fallback``'s (TF-IDF); per step
    whose shown themes are ``fallback``'s, why (``Grouped.fallback_reason``); and, per step
    grouped by meaning in both ``period`` and ``previous``, its trends (:mod:`.trends`)."""
    out = dict(fallback)
    reasons: dict[str, str] = {}
    found_trends: dict[str, tuple[Trend, ...]] = {}
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
            group_items, [(r.item_id, r.text, r.vector) for r in rows], language, limit=MAX_THEMES
        )
        if grouped.method == METHOD_EMBEDDINGS and previous is not None:
            before = await _week_themes(tx, campaign_id, step, previous, language)
            if before is not None:
                found_trends[step] = tuple(trends(before, _as_week(grouped)))
        if grouped.method == METHOD_EMBEDDINGS:
            out[step] = tuple(
                Theme(label, count)
                for label, count in zip(grouped.labels, grouped.counts, strict=True)
            )
        elif fallback.get(step):
            reasons[step] = grouped.fallback_reason or NO_MEANING_THEME
    return out, reasons, found_trends


def _as_week(grouped: Grouped) -> list[WeekTheme]:
    return [
        WeekTheme(label, count, centroid)
        for label, count, centroid in zip(
            grouped.labels, grouped.counts, grouped.centroids, strict=True
        )
    ]


async def _week_themes(
    tx: Transaction, campaign_id: int, step: str, period: Period, language: str
) -> list[WeekTheme] | None:
    """``period``'s themes by meaning, or None where too few of its items are embedded."""
    if (
        await tx.vectors.count_vectors(campaign_id, step, MODEL_NAME, period.start, period.end)
        < MIN_VECTORS
    ):
        return None
    rows = await tx.vectors.step_vectors(
        campaign_id, step, MODEL_NAME, since=period.start, until=period.end
    )
    grouped = await asyncio.to_thread(
        group_items, [(r.item_id, r.text, r.vector) for r in rows], language, limit=MAX_THEMES
    )
    return _as_week(grouped) if grouped.method == METHOD_EMBEDDINGS else None
