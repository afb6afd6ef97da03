"""``md``: the synthesis page in Markdown, every answer shown (the data controller's copy)."""

from __future__ import annotations

from qn_bot.export import render_markdown
from qn_bot.exporters.base import Exporter, ExportSource
from qn_bot.exporters.synthesis import full_synthesis


async def _render(source: ExportSource) -> str:
    return render_markdown(await full_synthesis(source))


EXPORTER = Exporter(
    name="md",
    media_type="text/markdown",
    extension="md",
    description="the synthesis page in Markdown",
    render=_render,
)
