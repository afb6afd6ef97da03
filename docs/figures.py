"""The README's opinion map and links heatmap, drawn by the bot's own renderers from synthetic
data (a planted two-camp vote, a planted means × actors grid): `.venv/bin/python -m docs.figures`.

The chat, site and e-mail screenshots come from real runs: docs/screenshots.py.
"""

from __future__ import annotations

import random
from pathlib import Path

from qn_bot.opinion_picture import render_opinion_map
from qn_bot.opinions import GroupHistory, compute_opinions
from qn_bot.themes.heatmap import render_heatmap
from qn_bot.themes.links import link_grid
from tests.unit.test_opinions import planted

IMAGES = Path(__file__).resolve().parent / "images"


def opinion_map() -> bytes:
    data = planted()
    result = compute_opinions(data.statements, data.votes, GroupHistory(), min_group_size=5)
    return render_opinion_map(result, "fr")


def links_heatmap() -> bytes | None:
    """200 citizens whose means and actors go together more often than chance for some pairs."""
    rng = random.Random(7)  # noqa: S311 - a fixed seed: the same figure at every run
    means = ["budgets participatifs", "lois locales", "financement solidaire", "tiers-lieux"]
    actors = ["associations", "collectivités", "entreprises", "citoyens"]
    left: dict[str, list[str]] = {}
    right: dict[str, list[str]] = {}
    for n in range(200):
        m = rng.randrange(len(means))
        paired = m if rng.random() < 0.55 else rng.randrange(len(actors))
        left[f"p{n}"] = [means[m]]
        right[f"p{n}"] = [actors[paired]]
    return render_heatmap(link_grid(left, right, 5), "Avec quels moyens ?", "Avec quels acteurs ?")


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    (IMAGES / "opinion-map.png").write_bytes(opinion_map())
    heatmap = links_heatmap()
    if heatmap is not None:
        (IMAGES / "links-heatmap.png").write_bytes(heatmap)


if __name__ == "__main__":
    main()
