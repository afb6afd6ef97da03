"""``html``: the synthesis page in HTML, with its version history (the data controller's copy)."""

from __future__ import annotations

from qn_bot.export import render_html
from qn_bot.exporters.base import Exporter, ExportSource
from qn_bot.exporters.synthesis import full_synthesis


async def _render(source: ExportSource) -> str:
    synthesis = await full_synthesis(source)
    return render_html(
        synthesis,
        await source.tx.sessions.campaign_revisions(source.campaign.id, include_hidden=True),
    )


EXPORTER = Exporter(
    name="html",
    media_type="text/html",
    extension="html",
    description="the synthesis page in HTML, with its version history",
    render=_render,
)
