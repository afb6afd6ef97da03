"""/moderer through the console protocol: a facilitator answers the cards by number (the console
has no buttons), as a real `qn-bot chat` process."""

from __future__ import annotations

import pytest

from tests.integration.processes import SLUG, QnBot

pytestmark = pytest.mark.integration


def test_moderer_by_numbers_in_the_console(qn: QnBot) -> None:
    qn.read("campaign", "create", SLUG, "--flow", "construire-2030", "--title", "C 2030")
    qn.read("campaign", "open", SLUG)
    qn.read("facilitator", "add", "console:boss")
    qn.ok("chat", "--campaign", SLUG, "--as", "alice", input="1\nUne idée sage\nUne insulte\n")
    out = qn.ok("chat", "--as", "boss", input=f"/moderer {SLUG}\n1\n2\n/moderer {SLUG}\n").stdout
    newest = out.index("Une insulte")  # the newest first…
    assert "[1] Masquer" in out[newest:]
    assert "[2] Garder" in out[newest:]
    hidden = out.index("masquée\u00a0: elle ne paraîtra dans aucune sortie publique", newest)
    oldest = out.index("Une idée sage", hidden)  # … then the next
    assert "gardée." in out[oldest:]
    assert out.count(f"Plus rien à modérer dans {SLUG}.") == 2
    rows = {r["text"]: r["hidden"] for r in qn.export_json()}
    assert rows == {"Une idée sage": False, "Une insulte": True}
    trail = qn.read("moderate", SLUG, "list", "--hidden").stdout
    assert "\thide\t" in trail
    assert "\tfacilitator:" in trail  # a pseudonym, not the platform id
    assert "console:boss" not in trail
