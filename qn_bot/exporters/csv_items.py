"""``csv``: one row per answer item, the JSON export's columns, formula-safe cells."""

from __future__ import annotations

from qn_bot.export import render_csv
from qn_bot.exporters.base import Exporter, ExportSource


async def _render(source: ExportSource) -> str:
    return render_csv(source.items, source.flow, source.language, source.csv_dialect)


EXPORTER = Exporter(
    name="csv",
    media_type="text/csv",
    extension="csv",
    description="one row per answer item",
    render=_render,
)
