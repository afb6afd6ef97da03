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
from qn_bot.themes.compute import METHOD_EMBEDDINGS, NO_MEANING_THEME, NOT_EMBEDDED, group_items
from qn_bot.themes.embedding import MODEL_NAME


async def period_themes(
    tx: Transaction,
    campaign_id: int,
    steps: Sequence[str],
    period: Period,
    language: str,
    fallback: Mapping[str, tuple[Theme, ...]],
) -> tuple[dict[str, tuple[Theme, ...]], dict[str, str]]:
    """Each text step's themes in ``period``: by meaning, or ``fallback``'s (TF-IDF); and, per
    step whose shown themes are ``fallback``'s, why (``Grouped.fallback_reason``)."""
    out = dict(fallback)
    reasons: dict[str, str] = {}
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
        if grouped.method == METHOD_EMBEDDINGS:
            out[step] = tuple(
                Theme(label, count)
                for label, count in zip(grouped.labels, grouped.counts, strict=True)
            )
        elif fallback.get(step):
            reasons[step] = grouped.fallback_reason or NO_MEANING_THEME
    return out, reasons
