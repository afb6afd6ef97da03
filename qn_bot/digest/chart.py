"""The digest chart: new items per section per week, as a small PNG.

Drawn for where it is read — an e-mail on a phone, a chat preview — both about
:data:`PHONE_POINTS` CSS pixels wide: the figure is that many points wide, so a font of N
points reads as N points there, and is rendered at twice the pixels for dense screens. The
legend sits under the bars at full width, its labels wrapped, never cut; the colours are
Okabe and Ito's colour-blind-safe palette, ordered so that stacked neighbours differ in
lightness, with hatching once the palette comes round again. Weeks start at the campaign's first
week, and a campaign with nothing to draw gets no chart at all.

Matplotlib's object API with the Agg canvas (no pyplot, no global figure state, no display), so
charts can be drawn from any thread. The same digest always gives the same bytes: PNG metadata
that would carry a version or a date is left out.
"""

from __future__ import annotations

import io
import textwrap
from datetime import date, datetime
from zoneinfo import ZoneInfo

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from qn_bot.digest.model import CampaignDigest, WeekCount
from qn_bot.i18n import default_catalog

#: The width a phone gives the e-mail's picture (CSS pixels = points at 96 dpi… near enough:
#: a CSS pixel is 0.75 pt, and phones show the body a little narrower than the screen).
PHONE_POINTS = 360
LEGEND_POINTS = 11
TEXT_POINTS = 10
DPI = 2 * 72  # twice the pixels of the points: sharp on a dense screen
#: Okabe & Ito (2008), in the order whose neighbours differ most in lightness (≥ 0.16 in
#: relative luminance, the last one and the first included): hue alone fails some eyes.
PALETTE = (
    "#0072B2", "#E69F00", "#D55E00", "#56B4E9", "#009E73", "#000000", "#CC79A7", "#F0E442",
    "#999999",
)  # fmt: skip
HATCHES = ("", "//", "..", "xx")
#: Characters per legend line at LEGEND_POINTS across the figure (DejaVu Sans averages ~0.55 em).
LEGEND_CHARACTERS = 44
TITLE_CHARACTERS = 46


def _label(text: str, width: int) -> str:
    """Wrapped to ``width``; "$" escaped, or matplotlib would read it as mathtext."""
    return textwrap.fill(" ".join(text.split()), width).replace("$", r"\$")


def _day(d: datetime, zone: ZoneInfo) -> date:
    return d.astimezone(zone).date()


def charted_weeks(digest: CampaignDigest) -> tuple[WeekCount, ...]:
    """The weeks from the campaign's first one (the weeks before it have nothing to say)."""
    if digest.started_at is None:
        return digest.weeks
    return tuple(w for w in digest.weeks if w.end > digest.started_at)


def draw_chart(
    digest: CampaignDigest, language: str = "fr", timezone: str = "UTC"
) -> Figure | None:
    """A stacked bar per week (oldest left), one colour per section with new items; ``None``
    when no charted week has any."""
    labels = default_catalog().table(language, "chart_")
    zone = ZoneInfo(timezone)
    weeks = charted_weeks(digest)
    # Only sections that got something in the charted weeks: twelve empty legend rows help no one.
    shown = [n for n in range(len(digest.chart_sections)) if any(w.per_section[n] for w in weeks)]
    if not shown:
        return None
    names = [_label(digest.chart_sections[n], LEGEND_CHARACTERS) for n in shown]
    title = _label(f"{digest.title} — {labels['title']}", TITLE_CHARACTERS)
    legend_lines = sum(name.count("\n") + 1 for name in names)
    # Points: the bars' area, the title's lines, the legend's lines (1.45 × 11 pt each).
    height = 190 + 15 * (title.count("\n") + 1) + 16 * legend_lines + 4 * len(names)
    # White, not transparent: a mail client in dark mode would put the black text on black.
    fig = Figure(
        figsize=(PHONE_POINTS / 72, height / 72),
        dpi=DPI,
        layout="constrained",
        facecolor="white",
    )
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(len(weeks)))
    bottoms = [0] * len(weeks)
    for k, n in enumerate(shown):
        values = [w.per_section[n] for w in weeks]
        ax.bar(
            xs,
            values,
            bottom=bottoms,
            color=PALETTE[k % len(PALETTE)],
            hatch=HATCHES[(k // len(PALETTE)) % len(HATCHES)],
            edgecolor="white",  # a thin gap between stacked sections
            linewidth=0.6,
            label=names[k],
            width=0.72,
        )
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    # Past eight weeks the dates would touch at this width: every other one is labelled.
    step = 1 if len(weeks) <= 6 else 2
    ticks = [_day(w.start, zone).strftime("%d/%m") for w in weeks]
    ax.set_xticks(xs, [t if (len(weeks) - 1 - k) % step == 0 else "" for k, t in enumerate(ticks)])
    ax.tick_params(labelsize=TEXT_POINTS)
    ax.set_xlabel(labels["week"], fontsize=TEXT_POINTS)
    ax.set_title(title, fontsize=TEXT_POINTS + 1, loc="left", fontweight="bold")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    # Read top-down like the bars: the top section first.
    handles, texts = ax.get_legend_handles_labels()
    fig.legend(
        handles[::-1],
        texts[::-1],
        loc="outside lower left",
        fontsize=LEGEND_POINTS,
        frameon=False,
        handlelength=1.2,
        borderaxespad=0.2,
    )
    return fig


def render_chart(
    digest: CampaignDigest, language: str = "fr", timezone: str = "UTC"
) -> bytes | None:
    """The chart as PNG bytes; ``None`` when there is nothing to draw."""
    fig = draw_chart(digest, language, timezone)
    if fig is None:
        return None
    out = io.BytesIO()
    # No "Software" chunk (it names the matplotlib version): same data, same bytes.
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
