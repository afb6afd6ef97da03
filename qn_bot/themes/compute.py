"""A campaign's themes per free-text step: the one function `qn-bot themes`, the digest and the
site call. By meaning from the stored vectors where the embedding model is installed; today's
TF-IDF keyword themes otherwise, and the result says which (``method``, ``fallback_reason``).

Each live, public item is in at most one theme (moderation's filter is applied at the read).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from qn_bot.digest.themes import MAX_THEMES, themes
from qn_bot.records import CampaignRecord, ItemVector, StoredVector
from qn_bot.repositories import Database
from qn_bot.themes import NOT_EMBEDDED as NOT_EMBEDDED  # callers import it from here too
from qn_bot.themes.cluster import MAX_THEMES as MEANING_MAX_THEMES
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
    # The label: its most telling word or phrase of several citizens'; "" for a group of close
    # ideas without one (counted, never named).
    theme: str
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


#: Why a result is on the TF-IDF themes (``fallback_reason``).
NO_MEANING_THEME = "no theme by meaning"

Entry = tuple[int, str, bytes | None]  # (item id, text, stored vector or None)


@dataclass(frozen=True, slots=True)
class Grouped:
    """One section's themes and the theme each item falls in: what recaps, the digest, the site
    and ``qn-bot themes`` all read (:func:`group_items`)."""

    method: str
    labels: tuple[str, ...]  # most items first; "" for a group no word of several citizens names
    keywords: tuple[tuple[str, ...], ...]
    of: dict[int, int]  # item id → index in ``labels``; an item in no theme is absent
    counts: tuple[int, ...]  # public items per theme (placed items never count)
    centroids: tuple[tuple[float, ...], ...] = ()  # unit, per theme (embeddings only)
    pending: int = 0  # public items neither embedded nor placed by a theme's words
    fallback_reason: str | None = None
    silhouette: float | None = None


def _word_keys(language: str) -> Callable[[str], set[str]]:
    from qn_bot.themes.label import terms

    return lambda text: set(terms(text, language))


def _by_words(
    keys: Callable[[str], set[str]], keywords: Sequence[Sequence[str]], text: str
) -> int | None:
    """The first theme one of whose keywords the text holds (the fallback's placement)."""
    held = keys(text)
    for index, words in enumerate(keywords):
        for word in words:
            wanted = keys(word)
            if wanted and max(wanted, key=len) in held:
                return index
    return None


def _tfidf(
    public: Sequence[Entry],
    placed: Sequence[Entry],
    language: str,
    limit: int,
    reason: str | None,
    authors: Mapping[int, Hashable],
) -> Grouped:
    from qn_bot.digest.themes import KeyCache, held_keys, words

    found = themes(
        [text for _, text, _ in public],
        language,
        authors=[authors[item_id] for item_id, _, _ in public],
        limit=limit,
    )
    cache = KeyCache(language)
    wanted = [cache[theme.label] for theme in found]
    of: dict[int, int] = {}
    for item_id, text, _ in (*public, *placed):
        held = held_keys(words(text), cache.__getitem__)
        hit = next((n for n, k in enumerate(wanted) if k is not None and k in held), None)
        if hit is not None:
            of[item_id] = hit
    counts = [0] * len(found)
    for item_id, _, _ in public:
        if item_id in of:
            counts[of[item_id]] += 1
    return Grouped(
        METHOD_TFIDF,
        tuple(t.label for t in found),
        tuple((t.label,) for t in found),
        of,
        tuple(counts),
        fallback_reason=reason,
    )


def group_items(
    public: Sequence[Entry],
    language: str,
    *,
    authors: Mapping[int, Hashable],
    placed: Sequence[Entry] = (),
    limit: int = MAX_THEMES,
    by_meaning: bool = True,
    reason: str | None = None,
) -> Grouped:
    """Group a section's ``public`` items by meaning from their stored vectors (CPU-bound: run
    it in a thread for a big step).

    ``authors`` (each public item's id → its author): a theme is named only by words
    :data:`~qn_bot.digest.themes.LABEL_PEOPLE` citizens used
    (:func:`qn_bot.themes.label.label_groups`; the keyword themes count citizens alike), and is
    left unnamed ("") rather than named after one citizen's sentence or repeated word.

    Only embedded public items shape the themes; a public item not embedded yet and every
    ``placed`` item (a citizen's own item kept out of public outputs) is put in the theme its
    vector is nearest, or without a vector in the theme whose words it holds, or in none.
    Placed items never count. Too few vectors (or ``by_meaning`` False, with its ``reason``):
    the TF-IDF keyword themes, saying why in ``fallback_reason``.
    """
    from qn_bot.themes.cluster import MIN_VECTORS, cluster
    from qn_bot.themes.label import label_groups

    embedded = [e for e in public if e[2] is not None]
    if not by_meaning:
        return _tfidf(public, placed, language, limit, reason, authors)
    if len(embedded) < MIN_VECTORS:
        return _tfidf(public, placed, language, limit, NOT_EMBEDDED, authors)
    result = cluster(dequantise([e[2] for e in embedded if e[2] is not None]))
    k = len(result.centroids)
    if not k:
        return _tfidf(public, placed, language, limit, NO_MEANING_THEME, authors)
    members = [np.flatnonzero(result.labels == g) for g in range(k)]
    words = label_groups(
        [[embedded[i][1] for i in m] for m in members],
        language,
        authors=[[authors[embedded[i][0]] for i in m] for m in members],
    )
    # Most items first; past ``limit`` a group is no theme and its items stay unthemed.
    order = sorted(range(k), key=lambda g: (-len(members[g]), words[g][:1]))[:limit]
    rank = {g: n for n, g in enumerate(order)}
    of: dict[int, int] = {}
    for g in order:
        for i in members[g]:
            of[embedded[i][0]] = rank[g]
    keywords = tuple(words[g] for g in order)
    labels = tuple(found[0] if found else "" for found in keywords)
    rest = [e for e in placed if e[2] is not None]
    if rest:
        near = result.nearest(dequantise([e[2] for e in rest if e[2] is not None]))
        for (item_id, _, _), g in zip(rest, near, strict=True):
            if int(g) in rank:
                of[item_id] = rank[int(g)]
    keys = _word_keys(language)
    pending = 0
    for item_id, text, vector in (*public, *placed):
        if vector is None:
            hit = _by_words(keys, keywords, text)
            if hit is not None:
                of[item_id] = hit
            elif any(item_id == p[0] for p in public):
                pending += 1
    counts = [0] * len(order)
    for item_id, _, _ in public:
        if item_id in of:
            counts[of[item_id]] += 1
    centroids = tuple(tuple(round(float(x), 4) for x in result.centroids[g]) for g in order)
    return Grouped(
        METHOD_EMBEDDINGS,
        labels,
        keywords,
        of,
        tuple(counts),
        centroids,
        pending,
        silhouette=result.silhouette,
    )


def step_themes(
    step: str,
    rows: Sequence[StoredVector],
    language: str,
    *,
    by_meaning: bool = True,
    reason: str | None = None,
    limit: int = MEANING_MAX_THEMES,
) -> StepThemes:
    """A step's themes for ``qn-bot themes``, the digest and the site (from :func:`group_items`)."""
    grouped = group_items(
        [(r.item_id, r.text, r.vector) for r in rows],
        language,
        authors={r.item_id: r.participant for r in rows},
        by_meaning=by_meaning,
        reason=reason,
        limit=limit,
    )
    members: list[list[ThemeItem]] = [[] for _ in grouped.labels]
    for r in rows:
        if r.item_id in grouped.of:
            members[grouped.of[r.item_id]].append(ThemeItem(r.participant, r.text))
    out = tuple(
        StepTheme(
            step,
            label,
            keywords,
            tuple(m),
            grouped.centroids[n] if grouped.centroids else None,
        )
        for n, (label, keywords, m) in enumerate(
            zip(grouped.labels, grouped.keywords, members, strict=True)
        )
    )
    extra = {} if grouped.silhouette is None else {"silhouette": grouped.silhouette}
    return StepThemes(step, grouped.method, out, grouped.pending, grouped.fallback_reason, extra)


def meaning_themes(step: str, rows: Sequence[StoredVector], language: str) -> StepThemes:
    """Themes from stored vectors (CPU-bound: run it in a thread)."""
    return step_themes(step, rows, language)


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
        results.append(
            await asyncio.to_thread(
                step_themes, step, rows, language, by_meaning=False, reason=reason
            )
        )
    return results


def to_json(found: Sequence[StepThemes]) -> list[dict[str, object]]:
    """DESIGN §4's contract: a list of {step, theme, keywords, count, items}; a group of close
    ideas that no word of several citizens names has ``"theme": ""`` and no keywords."""
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
