"""The site's block for links between sections: each link's strong pairs in words and its grid
as a heatmap picture beside the page (``<page>-links-<n>.png``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from markupsafe import escape

from qn_bot.flows.format import Flow
from qn_bot.themes.links import SectionLink
from qn_bot.themes.links_text import heading, link_lines, side_name


async def write_links(
    out_dir: Path, page: str, found: Sequence[SectionLink], flow: Flow, language: str
) -> str:
    """The HTML block (empty when nothing is shown); the heatmaps written next to ``page``."""
    from qn_bot.themes.heatmap import render_heatmap  # matplotlib: only when there is a grid

    parts: list[str] = []
    stem = page.removesuffix(".html")
    for n, link in enumerate(found, start=1):
        lines = link_lines(link, language)
        left = side_name(flow, link.link.left, language)
        right = side_name(flow, link.link.right, language)
        png = await asyncio.to_thread(render_heatmap, link.grid, left, right, language)
        if not lines and png is None:
            continue
        block = [f"<h3>{escape(heading(flow, link, language))}</h3>"]
        if lines:
            block.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>")
        if png is not None:
            name = f"{stem}-links-{n}.png"
            await asyncio.to_thread((out_dir / name).write_bytes, png)
            alt = escape(f"{left} × {right}")
            block.append(f'<img src="{name}" alt="{alt}" style="max-width:100%;height:auto">')
        parts.append('<section class="links">' + "".join(block) + "</section>")
    return "\n".join(parts)


def with_links(page: str, block: str) -> str:
    """The page with the links block at the end of its main content."""
    return page.replace("</main>", block + "\n</main>", 1) if block else page
