"""The digest chart as it is read: in an e-mail on a phone and in a chat preview.

A phone shows the e-mail's image about 360 CSS pixels wide (a chat preview about as wide), so
the figure is drawn that many points wide at twice the pixels: a font of N points in the figure
then reads as N points on the phone.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text
from PIL import Image

from qn_bot.digest.chart import PHONE_POINTS, draw_chart, render_chart
from qn_bot.digest.model import CampaignDigest, WeekCount

MONDAY = datetime(2026, 9, 7, tzinfo=UTC)
LONG = (
    "Quelles sont les conséquences positives et négatives de la révolution numérique sur les "
    "tiers-lieux et les services publics\u00a0?"
)
SECTIONS = (
    "Pourquoi tout va changer ?",
    LONG,
    "Ce qui meurt",
    "Ce qui naît",
    "Les signaux faibles",
    "Les tiers-lieux",
    "Nos propositions",
    "Nos questions",
    "Le reste",
)


def campaign(
    weeks: list[tuple[int, ...]],
    *,
    started: datetime | None = None,
    sections: tuple[str, ...] = SECTIONS,
) -> CampaignDigest:
    start = MONDAY - timedelta(weeks=len(weeks) - 1)
    return CampaignDigest(
        slug="ts",
        title="Think Small 2026 — Construire 2030 ensemble, dans les territoires",
        edition=None,
        new_participants=3, previous_new_participants=1, completions=1, previous_completions=0,
        new_items=5, previous_new_items=2, respondents=3, total_participants=4, total_items=9,
        breakdown=True, min_respondents=1, sections=(), chart_sections=sections,
        weeks=tuple(
            WeekCount(start + timedelta(weeks=n), start + timedelta(weeks=n + 1), counts)
            for n, counts in enumerate(weeks)
        ),
        started_at=started,
    )  # fmt: skip


def texts(digest: CampaignDigest) -> tuple[list[Text], list[Text], float, float]:
    figure = draw_chart(digest, "fr", "Europe/Paris")
    assert figure is not None
    figure.canvas.draw()
    legend = figure.legends[0] if figure.legends else figure.axes[0].get_legend()
    assert legend is not None
    shown = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    width, height = figure.bbox.width, figure.bbox.height
    return legend.get_texts(), shown, width, height


def test_phone_width_legend_of_at_least_11_points_and_nothing_cut() -> None:
    busy = campaign([tuple((n + k) % 4 for k in range(len(SECTIONS))) for n in range(8)])
    legend, shown, width, height = texts(busy)
    figure = draw_chart(busy, "fr", "Europe/Paris")
    assert figure is not None
    # Drawn PHONE_POINTS points wide: what a phone shows at its width.
    assert figure.get_figwidth() * 72 == pytest.approx(PHONE_POINTS, rel=0.05)
    assert len(legend) == len(SECTIONS)
    for text in legend:
        assert text.get_fontsize() >= 11
    # Every label whole: no ellipsis, and every text inside the picture.
    joined = " ".join(" ".join(t.get_text().split()) for t in legend)
    assert " ".join(LONG.split()) in joined
    assert "…" not in joined
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    figure.canvas.draw()
    for text in figure.findobj(Text):
        if not (text.get_visible() and text.get_text().strip()):
            continue
        box = text.get_window_extent(renderer)
        assert box.x0 >= -0.5
        assert box.y0 >= -0.5, text.get_text()
        assert box.x1 <= figure.bbox.width + 0.5, text.get_text()
        assert box.y1 <= figure.bbox.height + 0.5, text.get_text()
    del shown, width, height


def test_the_png_is_phone_sized_and_sharp() -> None:
    png = render_chart(campaign([(1, 2, 0, 0, 0, 0, 0, 0, 0)] * 4), "fr", "Europe/Paris")
    assert png is not None
    with Image.open(io.BytesIO(png)) as image:
        width, height = image.size
    # Twice the phone's pixels (sharp on a dense screen), taller than wide at most by a little.
    assert 2 * PHONE_POINTS * 0.95 <= width <= 2 * PHONE_POINTS * 1.34
    assert height <= 1.6 * width


def luminance(colour: str) -> float:
    r, g, b = to_rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_colour_blind_safe_palette_with_distinct_neighbours() -> None:
    figure = draw_chart(campaign([(1,) * len(SECTIONS)] * 3), "fr", "Europe/Paris")
    assert figure is not None
    bars = [c for c in figure.axes[0].containers]
    colours = [bars[k].patches[0].get_facecolor() for k in range(len(bars))]
    okabe_ito = {
        to_rgb(c)
        for c in ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
                  "#000000", "#999999")
    }  # fmt: skip
    for k, colour in enumerate(colours):
        assert to_rgb(colour) in okabe_ito
        if k:
            # Stacked neighbours differ in lightness, which every eye sees.
            assert abs(luminance(colour) - luminance(colours[k - 1])) > 0.12
    # Past the palette, sections are told apart by hatching as well.
    patterns = [(c.patches[0].get_facecolor(), c.patches[0].get_hatch()) for c in bars]
    assert len(set(patterns)) == len(bars)


def test_weeks_begin_at_the_campaigns_first_week() -> None:
    weeks = [(0,) * 9, (0,) * 9, (0,) * 9, (1, 0, 0, 0, 0, 0, 0, 0, 0), (0,) * 9, (2,) + (0,) * 8]
    started = MONDAY - timedelta(weeks=2, days=-2)  # a Wednesday, three charted weeks ago
    figure = draw_chart(campaign(weeks, started=started), "fr", "Europe/Paris")
    assert figure is not None
    ticks = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert ticks == ["24/08", "31/08", "07/09"]


def test_no_chart_when_there_is_nothing_to_draw() -> None:
    assert render_chart(campaign([(0,) * 9] * 8), "fr", "Europe/Paris") is None
    assert render_chart(campaign([]), "fr", "Europe/Paris") is None
