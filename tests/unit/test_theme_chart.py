"""The digest's chart of themes over the weeks (issue 14 §4), as it is read on a phone: drawn
at the phone's width, legends of 11 points or more and never cut, colour-blind-safe colours told
apart by marker and dash too, the weeks from the campaign's first, nothing drawn when there is
nothing to show."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta

import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text
from PIL import Image

from qn_bot.digest.chart import PALETTE, PHONE_POINTS
from qn_bot.digest.model import CampaignDigest, ThemeLines
from qn_bot.digest.theme_chart import draw_theme_chart, render_theme_chart
from tests.unit.test_digest_chart import LONG, MONDAY, campaign

LINES = (
    ThemeLines(
        "Ce qui meurt",
        (
            ("voiture individuelle", (0, 3, 5, 8)),
            ("petits commerces", (0, 6, 6, 7)),
            (LONG, (0, 0, 2, 5)),
        ),
    ),
    ThemeLines("Ce qui naît", (("mobilité douce", (0, 4, 7, 12)),)),
)


def themed(
    weeks: int = 4, *, lines: tuple[ThemeLines, ...] = LINES, **kw: object
) -> CampaignDigest:
    return dataclasses.replace(campaign([(0,) * 9] * weeks, **kw), theme_lines=lines)  # type: ignore[arg-type]


def test_one_panel_per_section_readable_at_phone_width_nothing_cut() -> None:
    figure = draw_theme_chart(themed(), "fr", "Europe/Paris")
    assert figure is not None
    assert figure.get_figwidth() * 72 == pytest.approx(PHONE_POINTS, rel=0.05)
    first, second = figure.axes
    assert [t.get_text() for t in first.get_legend().get_texts()][:2] == [
        "voiture individuelle",
        "petits commerces",
    ]
    assert len(second.get_legend().get_texts()) == 1
    for ax in figure.axes:
        for text in ax.get_legend().get_texts():
            assert text.get_fontsize() >= 11
    legend = " ".join(" ".join(t.get_text().split()) for t in first.get_legend().get_texts())
    assert " ".join(LONG.split()) in legend  # wrapped, whole
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    for text in figure.findobj(Text):
        if not (text.get_visible() and text.get_text().strip()):
            continue
        box = text.get_window_extent(renderer)
        assert box.x0 >= -0.5, text.get_text()
        assert box.y0 >= -0.5, text.get_text()
        assert box.x1 <= figure.bbox.width + 0.5, text.get_text()
        assert box.y1 <= figure.bbox.height + 0.5, text.get_text()


def test_colour_blind_safe_lines_told_apart_by_marker_and_dash() -> None:
    figure = draw_theme_chart(themed(), "fr", "Europe/Paris")
    assert figure is not None
    lines = figure.axes[0].get_lines()
    assert all(to_rgb(line.get_color()) in {to_rgb(c) for c in PALETTE} for line in lines)
    styles = {(line.get_marker(), line.get_linestyle()) for line in lines}
    assert len(styles) == len(lines)


def test_weeks_from_the_campaigns_first_and_a_sharp_phone_sized_png() -> None:
    started = MONDAY - timedelta(weeks=2, days=-2)  # three charted weeks of four
    figure = draw_theme_chart(themed(started=started), "fr", "Europe/Paris")
    assert figure is not None
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["24/08", "31/08", "07/09"]
    assert [list(line.get_ydata()) for line in figure.axes[1].get_lines()] == [[4, 7, 12]]
    png = render_theme_chart(themed(), "fr", "Europe/Paris")
    assert png is not None
    assert png == render_theme_chart(themed(), "fr", "Europe/Paris")  # same data, same bytes
    with Image.open(io.BytesIO(png)) as image:
        width, _ = image.size
    assert 2 * PHONE_POINTS * 0.95 <= width <= 2 * PHONE_POINTS * 1.34


def test_no_chart_under_two_weeks_or_with_nothing_to_draw() -> None:
    assert render_theme_chart(themed(1), "fr") is None
    started = MONDAY + timedelta(days=1)  # only the last week is the campaign's
    assert render_theme_chart(themed(started=started), "fr") is None
    assert render_theme_chart(themed(lines=()), "fr") is None
    quiet = (ThemeLines("Ce qui meurt", (("voiture", (0, 0, 0, 0)),)),)
    assert render_theme_chart(themed(lines=quiet), "fr") is None
