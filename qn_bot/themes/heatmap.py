"""The means × actors grid (any link's grid) as a heatmap PNG, for the site and the digest.

Same rules as the digest chart (:mod:`qn_bot.digest.chart`): drawn for a phone's width, twice the
pixels, Agg canvas without pyplot, no version in the PNG. One colour-blind-safe sequential
palette (viridis: ordered in lightness, readable in grey), coloured by lift and labelled with the
count of citizens; a withheld cell stays blank and says so (« < 5 »), so that a gap never reads
as "nobody".
"""

from __future__ import annotations

import io
import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from qn_bot.digest.chart import DPI, PHONE_POINTS, TEXT_POINTS
from qn_bot.i18n import default_catalog
from qn_bot.themes.links import LinkGrid

MAX_ROWS = 8
MAX_COLUMNS = 6
LABEL_CHARACTERS = 18


def _label(text: str, width: int = LABEL_CHARACTERS) -> str:
    return textwrap.fill(" ".join(text.split()), width, max_lines=2, placeholder="…").replace(
        "$", r"\$"
    )


def render_heatmap(grid: LinkGrid, left: str, right: str, language: str = "fr") -> bytes | None:
    """``left``/``right``: the sides' names. ``None`` when no cell is shown."""
    lab = default_catalog().table(language, "heatmap_")
    rows, columns = grid.rows[:MAX_ROWS], grid.columns[:MAX_COLUMNS]
    cells = [line[: len(columns)] for line in grid.cells[: len(rows)]]
    if not any(not c.withheld for line in cells for c in line):
        return None
    lift = np.full((len(rows), len(columns)), np.nan)
    for r, line in enumerate(cells):
        for c, cell in enumerate(line):
            if cell.lift is not None:
                lift[r, c] = cell.lift
    height = 150 + 30 * len(rows) + 12 * max(_label(c).count("\n") + 1 for c in columns)
    fig = Figure(
        figsize=(PHONE_POINTS / 72, height / 72), dpi=DPI, layout="constrained", facecolor="white"
    )
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    top = float(np.nanmax(lift))
    image = ax.imshow(
        np.ma.masked_invalid(lift), cmap="viridis", vmin=0, vmax=max(2.0, top), aspect="auto"
    )
    ax.set_facecolor("white")
    for r, line in enumerate(cells):
        for c, cell in enumerate(line):
            if cell.withheld:
                text, colour = f"< {grid.minimum}", "#666666"
            else:
                text = str(cell.count)
                # viridis is dark at the bottom, light at the top: the label takes the other.
                light = (cell.lift or 0.0) / max(2.0, top) > 0.6
                colour = "black" if light else "white"
            ax.text(c, r, text, ha="center", va="center", fontsize=TEXT_POINTS, color=colour)
    ax.set_xticks(range(len(columns)), [_label(c) for c in columns], fontsize=TEXT_POINTS - 1)
    ax.set_yticks(range(len(rows)), [_label(r) for r in rows], fontsize=TEXT_POINTS - 1)
    ax.tick_params(axis="x", labelrotation=35, length=0)
    ax.tick_params(axis="y", length=0)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.set_xticks(np.arange(-0.5, len(columns)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(rows)), minor=True)
    ax.grid(which="minor", color="#dddddd", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.spines[:].set_visible(False)
    ax.set_title(
        _label(lab["title"].format(left=left, right=right), 46),
        fontsize=TEXT_POINTS + 1,
        loc="left",
        fontweight="bold",
    )
    bar = fig.colorbar(image, ax=ax, orientation="horizontal", location="bottom", shrink=0.8)
    scale = textwrap.fill(lab["scale"].format(minimum=grid.minimum), 52).replace("$", r"\$")
    bar.set_label(scale, fontsize=TEXT_POINTS - 1)
    bar.ax.tick_params(labelsize=TEXT_POINTS - 1)
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
