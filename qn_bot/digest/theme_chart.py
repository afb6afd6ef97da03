"""The digest's chart of themes: each shown section's top themes over the campaign's weeks, as
a small PNG beside the weekly chart (:mod:`qn_bot.digest.chart`).

The same rules as that chart: drawn :data:`~qn_bot.digest.chart.PHONE_POINTS` wide at twice
the pixels, Okabe and Ito's colour-blind-safe colours, told apart by their marker and dash too
(hue alone fails some eyes, and grey prints), labels wrapped and never cut, the Agg canvas
without pyplot, no version in the PNG. One panel per section, its legend under it. No chart when
fewer than two of the campaign's weeks are charted or no section has a theme to draw.
"""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from qn_bot.digest.chart import (
    DPI,
    LEGEND_CHARACTERS,
    LEGEND_POINTS,
    PALETTE,
    PHONE_POINTS,
    TEXT_POINTS,
    TITLE_CHARACTERS,
    _day,
    _label,
    charted_weeks,
)
from qn_bot.digest.model import CampaignDigest
from qn_bot.i18n import default_catalog

#: At most this many sections get a panel (the first ones, in the flow's order).
MAX_PANELS = 6
MARKERS = ("o", "s", "^", "D")
DASHES = ("-", "--", ":", "-.")


def draw_theme_chart(
    digest: CampaignDigest, language: str = "fr", timezone: str = "UTC"
) -> Figure | None:
    """One panel per section with themes to draw; ``None`` when there is nothing to draw."""
    labels = default_catalog().table(language, "theme_chart_")
    weeks = charted_weeks(digest)
    skip = len(digest.weeks) - len(weeks)
    if len(weeks) < 2:
        return None
    panels = []
    for section in digest.theme_lines:
        lines = [(name, counts[skip:]) for name, counts in section.themes if any(counts[skip:])]
        if lines:
            panels.append((section.heading, lines))
    panels = panels[:MAX_PANELS]
    if not panels:
        return None
    zone = ZoneInfo(timezone)
    title = _label(f"{digest.title} — {labels['title']}", TITLE_CHARACTERS)
    headings = [_label(heading, TITLE_CHARACTERS + 4) for heading, _ in panels]
    names = [[_label(name, LEGEND_CHARACTERS) for name, _ in lines] for _, lines in panels]
    # Points per panel: the plot, its heading's lines, its legend's lines (1.45 × 11 pt each).
    heights = [
        120 + 14 * (heading.count("\n") + 1) + sum(16 * (n.count("\n") + 1) + 4 for n in named)
        for heading, named in zip(headings, names, strict=True)
    ]
    height = 30 + 15 * (title.count("\n") + 1) + sum(heights)
    fig = Figure(
        figsize=(PHONE_POINTS / 72, height / 72),
        dpi=DPI,
        layout="constrained",
        facecolor="white",  # white, not transparent: dark-mode mail clients
    )
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=TEXT_POINTS + 1, x=0.02, ha="left", fontweight="bold")
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=heights)[:, 0]
    xs = list(range(len(weeks)))
    step = 1 if len(weeks) <= 6 else 2  # past six weeks the dates would touch at this width
    ticks = [_day(w.start, zone).strftime("%d/%m") for w in weeks]
    shown_ticks = [t if (len(weeks) - 1 - k) % step == 0 else "" for k, t in enumerate(ticks)]
    for ax, heading, (_, lines), named in zip(axes, headings, panels, names, strict=True):
        for k, ((_, counts), name) in enumerate(zip(lines, named, strict=True)):
            ax.plot(
                xs,
                counts,
                color=PALETTE[k % len(PALETTE)],
                marker=MARKERS[k % len(MARKERS)],
                linestyle=DASHES[k % len(DASHES)],
                linewidth=1.8,
                markersize=4.5,
                label=name,
            )
        ax.set_title(heading, fontsize=TEXT_POINTS, loc="left")
        ax.set_xticks(xs, shown_ticks)
        ax.tick_params(labelsize=TEXT_POINTS - 1)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        ax.set_ylim(bottom=0)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(0, -0.18),
            fontsize=LEGEND_POINTS,
            frameon=False,
            handlelength=2.4,
            borderaxespad=0,
        )
    return fig


def render_theme_chart(
    digest: CampaignDigest, language: str = "fr", timezone: str = "UTC"
) -> bytes | None:
    """The chart as PNG bytes; ``None`` when there is nothing to draw."""
    fig = draw_theme_chart(digest, language, timezone)
    if fig is None:
        return None
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
