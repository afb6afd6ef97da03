"""Score the theme groupings against the hand labels of bench/data/themes_fr.tsv.

Reads the vectors :mod:`bench.themes_embed_labelled` saved (no model runs here), groups each
step's answers the way qn-bot does (:func:`qn_bot.themes.cluster.cluster`, the number of themes
chosen by silhouette) and prints ARI and NMI per candidate, averaged over the steps, next to
today's TF-IDF keyword themes. ``python -m bench.themes_eval VECTOR_DIR``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from bench.themes_embed_labelled import labelled
from qn_bot.digest.themes import MAX_THEMES, letter_runs, theme_key, themes
from qn_bot.themes.cluster import cluster


def keyword_themes(texts: list[str]) -> list[int]:
    """Today's themes: each text joins the first of the step's top keywords it holds."""
    # Each labelled answer is a citizen of its own.
    found = themes(texts, "fr", authors=range(len(texts)), limit=MAX_THEMES)
    keys = [theme_key(t.label, "fr") for t in found]
    out = []
    for words in letter_runs(texts):
        mine = {theme_key(w, "fr") for w in words}
        out.append(next((n for n, k in enumerate(keys) if k in mine), -1))
    return out


def stems(text: str) -> list[str]:
    return [k for w in letter_runs([text])[0] if (k := theme_key(w, "fr")) is not None]


def score(truth: list[str], found: list[int]) -> dict[str, float]:
    return {
        "ari": float(adjusted_rand_score(truth, found)),
        "nmi": float(normalized_mutual_info_score(truth, found)),
        "themes": len({f for f in found if f >= 0}),
        "unthemed": sum(1 for f in found if f < 0) / len(found),
    }


def main(vector_dir: Path) -> dict[str, dict[str, float]]:
    rows = labelled()
    by_step: dict[str, list[int]] = defaultdict(list)
    for n, row in enumerate(rows):
        by_step[row["step"]].append(n)
    candidates = {
        name: np.load(vector_dir / f"{name}.npy") for name in ("use", "e5-query", "e5-passage")
    }
    results: dict[str, list[dict[str, float]]] = defaultdict(list)
    for indices in by_step.values():
        texts = [rows[n]["text"] for n in indices]
        truth = [rows[n]["label"] for n in indices]
        results["tf-idf keywords (today)"].append(score(truth, keyword_themes(texts)))
        tfidf = TfidfVectorizer(analyzer=stems).fit_transform(texts).toarray()
        results["tf-idf vectors + same clustering"].append(
            score(truth, cluster(tfidf).labels.tolist())
        )
        for name, vectors in candidates.items():
            results[name].append(score(truth, cluster(vectors[indices]).labels.tolist()))
    summary = {
        name: {key: round(float(np.mean([s[key] for s in per_step])), 3) for key in per_step[0]}
        for name, per_step in results.items()
    }
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main(Path(sys.argv[1]))
