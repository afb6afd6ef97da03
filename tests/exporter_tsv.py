"""A tiny export format outside qn_bot, as a third party would write one: step and text, one
answer item per line, tab-separated."""

from __future__ import annotations

from qn_bot.exporters import Exporter, ExportSource


async def _render(source: ExportSource) -> str:
    lines = ["step\ttext"]
    lines += [f"{item.step_id}\t{' '.join(item.text.split())}" for item in source.items]
    return "\n".join(lines) + "\n"


TSV = Exporter(
    name="tsv",
    media_type="text/tab-separated-values",
    extension="tsv",
    description="step and text of each answer item, separated by tabs",
    render=_render,
)
