"""The site shows links between sections (issue 14 §5) on every backend: the pair the same
citizens give, in words with its count, the grid as a picture; a pair under the threshold never."""

from __future__ import annotations

import html
import re
from pathlib import Path

from qn_bot.domain import CampaignStatus
from qn_bot.site import export_site
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import make_participant

FLOW = """
id = "liens"
version = 1
languages = ["fr"]
title = "Liens"
links = [["meurt","nait",{ fr = "Mourir «\\u00A0{left}\\u00A0», naître «\\u00A0{right}\\u00A0»" }]]

[[steps]]
id = "meurt"
kind = "list"
prompt = "Ce qui meurt"
section = "Ce qui meurt"

[[steps]]
id = "nait"
kind = "list"
prompt = "Ce qui naît"
section = "Ce qui naît"
"""


async def test_site_page_links_what_dies_to_what_emerges(store: Store, tmp_path: Path) -> None:
    answers = [(("la voiture en ville",), ("le vélo partout",))] * 6 + [
        (("le papier administratif",), ("le numérique pour tous",))
    ] * 2
    async with store.transaction() as tx:
        campaign = await tx.campaigns.create_campaign(
            slug="liens", title="Liens", flow_id="liens", flow_version=1, flow_source=FLOW,
            now=T0, status=CampaignStatus.OPEN, min_respondents=5,
        )  # fmt: skip
        for n, (dying, born) in enumerate(answers):
            person = await make_participant(tx, str(n), f"P-{n}")
            session = await tx.sessions.save_session(
                person.id, campaign.id, {}, T0, status="completed", step_id=None
            )
            for seq, (step, text) in enumerate(
                [*(("meurt", t) for t in dying), *(("nait", t) for t in born)], start=1
            ):
                await tx.sessions.add_item(
                    session_id=session, campaign_id=campaign.id, participant_id=person.id,
                    seq=seq, step_id=step, text=text, value=None, now=T0,
                )  # fmt: skip
    await export_site(store, tmp_path, T0, min_respondents=5, loader=lambda: None)
    page = html.unescape((tmp_path / "liens.html").read_text(encoding="utf-8"))
    assert '<section class="links">' in page
    (line,) = re.findall(r"<li>(Mourir .*?)</li>", page)
    # Keyword themes here (no model): labels are the words the six share.
    assert re.fullmatch(
        r"Mourir «\u00a0[^»]*ville[^»]*\u00a0», naître «\u00a0[^»]*vélo[^»]*\u00a0» "
        r"\(6 personnes\)",
        line,
    )
    assert "numérique" not in page.split('<section class="links">')[1]  # two people: withheld
    assert (tmp_path / "liens-links-1.png").read_bytes().startswith(b"\x89PNG")
