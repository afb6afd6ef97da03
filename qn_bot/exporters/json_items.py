"""``json``: a list of objects, one per answer item (the JSON export contract)."""

from __future__ import annotations

from qn_bot.export import render_json
from qn_bot.exporters.base import Exporter, ExportSource


async def _render(source: ExportSource) -> str:
    return render_json(source.items, source.flow, source.language)


EXPORTER = Exporter(
    name="json",
    media_type="application/json",
    extension="json",
    description="one object per answer item",
    render=_render,
)
