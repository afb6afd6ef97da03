"""Themes of one step of 10,000 items from stored vectors (target ≤ 5 s): int8 vectors back to
floats, the clustering with the number of themes chosen by silhouette, the labels.

``python -m bench.themes``. Synthetic vectors (8 planted topics in the model's 512 dimensions,
noise as strong as real answers') so that no model runs here.
"""

from __future__ import annotations

import time

import numpy as np

from qn_bot.records import StoredVector
from qn_bot.themes.compute import meaning_themes
from qn_bot.themes.embedding import DIMENSIONS, quantise

WORDS = ("vélo", "logement", "santé", "école", "climat", "énergie", "commerce", "travail")


def rows(n: int = 10_000, topics: int = 8, seed: int = 1) -> list[StoredVector]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, DIMENSIONS))
    out = []
    for i in range(n):
        topic = i % topics
        v = centres[topic] + rng.normal(scale=1.2, size=DIMENSIONS)
        text = f"idée {i} sur le {WORDS[topic]} et la ville"
        out.append(StoredVector(i, f"P-{i % 997}", text, quantise(v)))
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
    return {"themes_10k_items_s": round(elapsed, 2), "themes_found": len(found.themes)}


if __name__ == "__main__":
    import asyncio

    asyncio.run(main())
