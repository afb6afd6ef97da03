"""The README's opinion map, links heatmap and digest theme chart, drawn by the bot's own
renderers from synthetic data (a planted two-camp vote, a planted means × actors grid, eight
weeks of three sections' themes): `.venv/bin/python -m docs.figures`.

The chat, site and e-mail screenshots come from real runs: docs/screenshots.py.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qn_bot.digest.model import CampaignDigest, ThemeLines, WeekCount
from qn_bot.digest.theme_chart import render_theme_chart
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


def theme_chart() -> bytes | None:
    """Eight weeks of a campaign: each section's top three themes, week by week."""
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    weeks = tuple(
        WeekCount(start + timedelta(weeks=n), start + timedelta(weeks=n + 1), (0, 0, 0))
        for n in range(8)
    )
    lines = (
        ThemeLines(
            "Ce qui meurt",
            (
                ("voiture individuelle", (3, 5, 8, 12, 11, 14, 16, 15)),
                ("petits commerces", (6, 6, 7, 5, 6, 4, 5, 6)),
                ("guichets fermés", (0, 0, 2, 5, 9, 7, 10, 12)),
            ),
        ),
        ThemeLines(
            "Ce qui naît, émerge, et change tout",
            (
                ("mobilité douce", (4, 7, 12, 21, 19, 24, 26, 30)),
                ("circuits courts", (5, 5, 6, 8, 7, 9, 8, 10)),
                ("tiers-lieux", (0, 1, 3, 3, 6, 8, 11, 9)),
            ),
        ),
        ThemeLines(
            "Avec quels acteurs ?",
            (
                ("associations", (2, 4, 5, 6, 8, 7, 9, 11)),
                ("collectivités", (3, 3, 4, 4, 5, 5, 6, 6)),
            ),
        ),
    )
    digest = CampaignDigest(
        slug="construire-2030",
        title="Construire 2030",
        edition=None,
        new_participants=0,
        previous_new_participants=0,
        completions=0,
        previous_completions=0,
        new_items=0,
        previous_new_items=0,
        respondents=0,
        total_participants=0,
        total_items=0,
        breakdown=True,
        min_respondents=5,
        sections=(),
        chart_sections=(),
        weeks=weeks,
        started_at=start,
        theme_lines=lines,
    )
    return render_theme_chart(digest, "fr", "Europe/Paris")


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    (IMAGES / "opinion-map.png").write_bytes(opinion_map())
    heatmap = links_heatmap()
    if heatmap is not None:
        (IMAGES / "links-heatmap.png").write_bytes(heatmap)
    chart = theme_chart()
    if chart is not None:
        (IMAGES / "digest-themes.png").write_bytes(chart)


if __name__ == "__main__":
    main()
