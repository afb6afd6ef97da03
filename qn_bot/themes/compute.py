"""A campaign's themes per free-text step: the one function `qn-bot themes`, the digest and the
site call. By meaning from the stored vectors where the embedding model is installed; today's
TF-IDF keyword themes otherwise, and the result says which (``method``, ``fallback_reason``).

Each live, public item is in at most one theme (moderation's filter is applied at the read).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qn_bot.digest.themes import letter_runs, theme_key, themes
from qn_bot.records import CampaignRecord, ItemVector, StoredVector
from qn_bot.repositories import Database
from qn_bot.themes.embedding import MODEL_NAME, Embedder, dequantise, load_embedder, quantise

log = logging.getLogger(__name__)

METHOD_EMBEDDINGS = "embeddings"
METHOD_TFIDF = "tf-idf"


@dataclass(frozen=True, slots=True)
class ThemeItem:
    participant: str
    text: str


@dataclass(frozen=True, slots=True)
class StepTheme:
    step: str
    theme: str  # the label: its most telling word or phrase
    keywords: tuple[str, ...]
    items: tuple[ThemeItem, ...]
    # Unit centroid (embeddings only): what matches a theme from one week to the next.
    centroid: tuple[float, ...] | None = None

    @property
    def count(self) -> int:
        return len(self.items)


@dataclass(frozen=True, slots=True)
class StepThemes:
    step: str
    method: str  # METHOD_EMBEDDINGS or METHOD_TFIDF
    themes: tuple[StepTheme, ...]
    pending: int = 0  # items not embedded yet (left out of these themes)
    fallback_reason: str | None = None
    extra: dict[str, float] = field(default_factory=dict)


Loader = Callable[[], Embedder | None]


def keyword_themes(step: str, rows: Sequence[StoredVector], language: str) -> StepThemes:
    """Today's TF-IDF themes, each item in the first of them whose word it holds."""
    texts = [r.text for r in rows]
    found = themes(texts, language)
    keys = [theme_key(t.label, language) for t in found]
    members: list[list[ThemeItem]] = [[] for _ in found]
    for row, words in zip(rows, letter_runs(texts), strict=True):
        mine = {theme_key(w, language) for w in words}
        hit = next((n for n, key in enumerate(keys) if key in mine), None)
        if hit is not None:
            members[hit].append(ThemeItem(row.participant, row.text))
    out = tuple(
        StepTheme(step, t.label, (t.label,), tuple(m)) for t, m in zip(found, members, strict=True)
    )
    return StepThemes(step, METHOD_TFIDF, out)


def meaning_themes(step: str, rows: Sequence[StoredVector], language: str) -> StepThemes:
    """Themes from stored vectors (CPU-bound: run it in a thread)."""
    from qn_bot.themes.cluster import cluster
    from qn_bot.themes.label import label_groups

    embedded = [r for r in rows if r.vector is not None]
    pending = len(rows) - len(embedded)
    vectors = dequantise([r.vector for r in embedded if r.vector is not None])
    result = cluster(vectors)
    k = len(result.centroids)
    groups = [np.flatnonzero(result.labels == g) for g in range(k)]
    labels = label_groups([[embedded[i].text for i in g] for g in groups], language)
    out = []
    for g, members, keywords in zip(range(k), groups, labels, strict=True):
        items = tuple(ThemeItem(embedded[i].participant, embedded[i].text) for i in members)
        centroid = tuple(round(float(x), 4) for x in result.centroids[g])
        # A theme no word stands out in is still a theme: its first answer names it.
        name = keywords[0] if keywords else items[0].text[:60]
        out.append(StepTheme(step, name, keywords, items, centroid))
    out.sort(key=lambda t: (-t.count, t.theme))
    return StepThemes(
        step, METHOD_EMBEDDINGS, tuple(out), pending, extra={"silhouette": result.silhouette}
    )


async def embed_missing(db: Database, campaign: CampaignRecord, embedder: Embedder) -> int:
    """Embed, now, the items the worker has not reached (for a command run by hand)."""
    from qn_bot.voting import statement_steps

    done = 0
    steps = statement_steps(campaign)
    while True:
        async with db.snapshot() as tx:
            todo = await tx.vectors.to_embed(campaign.id, steps, embedder.name, 256)
        if not todo:
            return done
        vectors = await asyncio.to_thread(embedder.embed, [i.text for i in todo])
        async with db.transaction() as tx:
            await tx.vectors.save_vectors(
                [
                    ItemVector(
                        i.item_id, i.campaign_id, i.step_id, i.revision, embedder.name, quantise(v)
                    )
                    for i, v in zip(todo, vectors, strict=True)
                ]
            )
        done += len(todo)


async def campaign_themes(
    db: Database,
    campaign: CampaignRecord,
    language: str,
    *,
    steps: Sequence[str] | None = None,
    loader: Loader = load_embedder,
    embed_now: bool = False,
) -> list[StepThemes]:
    """The themes of each free-text step (or of ``steps``). ``embed_now``: embed what the
    background worker has not reached yet first (commands run by hand; never the digest)."""
    from qn_bot.voting import statement_steps

    wanted = list(steps) if steps is not None else statement_steps(campaign)
    reason: str | None = None
    embedder: Embedder | None = None
    try:
        embedder = loader()
        if embedder is None:
            reason = "model not installed"
        elif embed_now:
            await embed_missing(db, campaign, embedder)
    except Exception as error:  # a broken model must not take the themes down with it
        log.exception("themes: the embedding model failed; TF-IDF themes instead")
        reason, embedder = f"model failed: {type(error).__name__}", None
    results = []
    for step in wanted:
        async with db.snapshot() as tx:
            rows = await tx.vectors.step_vectors(campaign.id, step, MODEL_NAME)
        if embedder is not None:
            try:
                results.append(await asyncio.to_thread(meaning_themes, step, rows, language))
                continue
            except Exception as error:
                log.exception("themes: grouping by meaning failed; TF-IDF themes instead")
                reason = f"grouping failed: {type(error).__name__}"
        fallback = await asyncio.to_thread(keyword_themes, step, rows, language)
        results.append(StepThemes(step, fallback.method, fallback.themes, fallback_reason=reason))
    return results


def to_json(found: Sequence[StepThemes]) -> list[dict[str, object]]:
    """DESIGN §4's contract: a list of {step, theme, keywords, count, items}."""
    return [
        {
            "step": t.step,
            "theme": t.theme,
            "keywords": list(t.keywords),
            "count": t.count,
            "items": [{"participant": i.participant, "text": i.text} for i in t.items],
        }
        for s in found
        for t in s.themes
    ]
