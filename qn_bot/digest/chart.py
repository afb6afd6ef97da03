"""The digest chart: new items per section per week, as a small PNG.

Matplotlib's object API with the Agg canvas (no pyplot, no global figure state, no display), so
charts can be drawn from any thread. The same digest always gives the same bytes: PNG metadata
that would carry a version or a date is left out.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from qn_bot.digest.model import CampaignDigest
from qn_bot.i18n import default_catalog

MAX_LEGEND = 42  # characters of a section heading in the legend


def _short(text: str) -> str:
    """Cut to the legend's width; "$" escaped, or matplotlib would read it as mathtext."""
    text = " ".join(text.split())
    text = text if len(text) <= MAX_LEGEND else text[: MAX_LEGEND - 1].rstrip() + "…"
    return text.replace("$", r"\$")


def _day(d: datetime, zone: ZoneInfo) -> date:
    return d.astimezone(zone).date()


def render_chart(
    digest: CampaignDigest, language: str = "fr", timezone: str = "UTC", *, dpi: int = 100
) -> bytes:
    """A stacked bar per week (oldest left), one colour per section with new items."""
    labels = default_catalog().table(language, "chart_")
    zone = ZoneInfo(timezone)
    weeks = digest.weeks
    # Only sections that got something in the charted weeks: twelve empty legend rows help no one.
    shown = [n for n in range(len(digest.chart_sections)) if any(w.per_section[n] for w in weeks)]
    height = 3.2 + 0.22 * max(len(shown), 1)
    fig = Figure(figsize=(7.2, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(len(weeks)))
    ticks = [_day(w.start, zone).strftime("%d/%m") for w in weeks]
    bottoms = [0] * len(weeks)
    colours = [
        "#1f5f8b", "#e07b39", "#3a923a", "#c03d3e", "#8c6bb1", "#8c564b", "#d462a6",
        "#7f7f7f", "#bcbd22", "#17becf", "#6baed6", "#fdae6b", "#74c476", "#9e9ac8",
    ]  # fmt: skip
    for k, n in enumerate(shown):
        values = [w.per_section[n] for w in weeks]
        ax.bar(
            xs,
            values,
            bottom=bottoms,
            color=colours[k % len(colours)],
            label=_short(digest.chart_sections[n]),
            width=0.7,
        )
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    if not shown:
        ax.text(0.5, 0.5, labels["none"], ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(xs, ticks)
    ax.set_xlabel(labels["week"])
    ax.set_title(_short(digest.title) + " — " + labels["title"], fontsize=10)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    if shown:
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=7,
            frameon=False,
        )
    out = io.BytesIO()
    # No "Software" chunk (it names the matplotlib version): same data, same bytes.
    fig.savefig(out, format="png", metadata={"Software": None}, bbox_inches="tight")
    return out.getvalue()
