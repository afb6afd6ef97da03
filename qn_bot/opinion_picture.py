"""The opinion map as a picture: each shown group a coloured cloud, nobody identifiable.

A cloud is a group's density (a Gaussian kernel estimate) drawn as filled contours from a fifth
of its peak up: the bulk of the group shows, a lone citizen far from the others does not (their
own bump is far below the group's peak), and no point, id or text of anyone is drawn. Colours are
Okabe and Ito's, told apart by the common colour-blindnesses; each cloud is also named by its
letter. Matplotlib's object API with the Agg canvas, as the digest chart (no pyplot state).
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

from qn_bot.i18n import default_catalog
from qn_bot.opinions import OpinionMap
from qn_bot.opinions.report import group_name

#: Okabe & Ito (2008), the colour-blind-safe palette: blue, orange, green, purple, vermilion.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00")
#: Points per group the density is estimated from (the cloud's shape needs no more).
SAMPLE = 2000
GRID = 120
SEED = 0


def render_opinion_map(opinions: OpinionMap, language: str = "fr", *, dpi: int = 100) -> bytes:
    """A square PNG, readable on a phone (600 px, large labels)."""
    catalog = default_catalog()
    fig = Figure(figsize=(6, 6), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(catalog.t(language, "opinions_picture_title"), fontsize=16)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[:].set_visible(False)
    shown = opinions.point_groups >= 0
    if not opinions.groups or not shown.any():
        ax.text(
            0.5,
            0.5,
            catalog.t(language, "opinions_picture_none"),
            ha="center",
            va="center",
            fontsize=14,
            transform=ax.transAxes,
        )
        return _png(fig)
    points = opinions.points[shown]
    low, high = points.min(axis=0), points.max(axis=0)
    pad = (high - low) * 0.25 + 1e-6
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], GRID)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], GRID)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.vstack([gx.ravel(), gy.ravel()])
    rng = np.random.default_rng(SEED)
    for n, group in enumerate(sorted(opinions.groups, key=lambda g: g.id)):
        colour = COLOURS[n % len(COLOURS)]
        members = opinions.points[opinions.point_groups == group.id]
        if len(members) > SAMPLE:
            members = members[rng.choice(len(members), SAMPLE, replace=False)]
        density = _density(members, grid).reshape(gx.shape)
        peak = float(density.max())
        if peak <= 0:
            continue
        levels = [peak * f for f in (0.2, 0.45, 0.7)] + [peak * 1.01]
        ax.contourf(gx, gy, density, levels=levels, colors=[colour], alpha=0.28)
        ax.contour(gx, gy, density, levels=levels[:1], colors=[colour], linewidths=1.5)
        label = f"{group_name(group.id)} ({group.size})"
        ax.text(
            *group.centre,
            label,
            ha="center",
            va="center",
            fontsize=15,
            fontweight="bold",
            color="black",
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "alpha": 0.8, "lw": 0},
        )
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_aspect("equal", adjustable="box")
    return _png(fig)


def _density(members: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The group's density on the grid; a group whose members all sit on one line (or point)
    gets a round bump instead of a singular kernel."""
    try:
        # Scott's bandwidth, widened: a cloud, never the outline of a few people.
        kde = gaussian_kde(members.T, bw_method=lambda k: 1.5 * k.scotts_factor())
        return np.asarray(kde(grid))
    except (np.linalg.LinAlgError, ValueError):
        centre = members.mean(axis=0)[:, None]
        spread = float(np.abs(grid - centre).max()) / 6 or 1.0
        return np.asarray(np.exp(-((grid - centre) ** 2).sum(axis=0) / (2 * spread**2)))


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    # No "Software" chunk (it names the matplotlib version): same map, same bytes.
    fig.savefig(out, format="png", metadata={"Software": None}, bbox_inches="tight")
    return out.getvalue()
