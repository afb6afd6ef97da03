"""Themes of one step of 10,000 items from stored vectors (target ≤ 5 s): int8 vectors back to
floats, the clustering with the number of themes chosen by silhouette, the labels. Then what
the digest adds for a period of that size (issue 14 §4, §5): the week grouped for keeping
(labels of words several citizens used, centroids, label holders) and the links between two
linked sections of 10,000 citizens each.

``python -m bench.themes``. Synthetic vectors (8 planted topics in the model's 512 dimensions,
noise as strong as real answers') so that no model runs here.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np

from qn_bot.flows.format import Link
from qn_bot.records import StoredVector
from qn_bot.themes.compute import meaning_themes
from qn_bot.themes.embedding import DIMENSIONS, quantise
from qn_bot.themes.history import group_week
from qn_bot.themes.links import step_links

NOW = datetime(2026, 11, 23, 8, tzinfo=UTC)
WORDS = ("vélo", "logement", "santé", "école", "climat", "énergie", "commerce", "travail")


def rows(
    n: int = 10_000, topics: int = 8, seed: int = 1, citizens: int = 997
) -> list[StoredVector]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, DIMENSIONS))
    out = []
    for i in range(n):
        topic = i % topics
        v = centres[topic] + rng.normal(scale=1.2, size=DIMENSIONS)
        text = f"idée {i} sur le {WORDS[topic]} et la ville"
        out.append(StoredVector(i, f"P-{i % citizens}", text, quantise(v)))
    return out


async def main() -> dict[str, float]:
    data = rows()
    start = time.perf_counter()
    found = meaning_themes("idees", data, "fr")
    elapsed = time.perf_counter() - start
    print(
        f"themes of 10,000 stored vectors: {elapsed:.2f} s, {len(found.themes)} themes "
        f"({', '.join(f'{t.theme} {t.count}' for t in found.themes)})"
    )
    # The digest's period: two linked sections, each citizen one idea in each.
    left, right = rows(citizens=10_000), rows(seed=2, citizens=10_000)
    start = time.perf_counter()
    weeks = [group_week(r, "fr", NOW, NOW) for r in (left, right)]
    grouped = time.perf_counter() - start
    themes_of = {}
    for step, week in zip(("meurt", "nait"), weeks, strict=True):
        assert week is not None
        mine: dict[str, set[str]] = {}
        for theme in week.themes:
            for person in theme.people:
                mine.setdefault(person, set()).add(theme.label)
        themes_of[step] = mine
    start = time.perf_counter()
    found_links = step_links(themes_of, [Link(("meurt",), ("nait",))], 5)
    linked = time.perf_counter() - start
    print(
        f"a period's week grouped for keeping, 2 × 10,000 items: {grouped:.2f} s; "
        f"links of 10,000 citizens: {linked:.3f} s ({len(found_links)} link)"
    )
    return {
        "themes_10k_items_s": round(elapsed, 2),
        "themes_found": len(found.themes),
        "digest_week_2x10k_items_s": round(grouped, 2),
        "links_10k_citizens_s": round(linked, 3),
    }


if __name__ == "__main__":
    import asyncio

    asyncio.run(main())
