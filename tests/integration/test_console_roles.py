"""Every facilitator command tried by a citizen in `qn-bot chat`: refused, nothing changes."""

from __future__ import annotations

import pytest

from tests.integration.processes import SLUG, QnBot

pytestmark = pytest.mark.integration

ATTEMPTS = [
    "/campagnes",
    "/campaigns",
    f"/lancer {SLUG} inviter",
    f"/cloturer {SLUG}",
    f"/close {SLUG}",
    f"/stats {SLUG}",
    f"/export {SLUG} csv",
    f"/relancer {SLUG}",
    "/digest",
    "/facilitateur ajouter console:eve",
]


def test_every_facilitator_command_is_refused_to_a_citizen(qn: QnBot) -> None:
    script = "\n".join(["1", "une idée", *ATTEMPTS]) + "\n"
    before = qn.ok("chat", "--campaign", SLUG, "--as", "eve", input=script)
    refusals = before.stdout.count("réservée aux animateurs")
    assert refusals == len(ATTEMPTS), before.stdout
    assert before.stderr.count("refused for a console user") == len(ATTEMPTS)
    assert "console:eve" not in before.stderr  # logged without the platform id
    listing = qn.ok("campaign", "list", "--format", "tsv").stdout
    assert f"{SLUG}\topen" in listing  # not closed
    assert "console:eve" not in qn.ok("facilitator", "list").stdout
    exported = qn.ok("export", SLUG, "--format", "json").json()
    assert [item["text"] for item in exported] == ["une idée"]

    # Granted for this campaign, the same citizen may act on it.
    qn.ok("facilitator", "add", "console:eve", "--campaign", SLUG)
    after = qn.ok("chat", "--as", "eve", input=f"/stats {SLUG}\n/cloturer {SLUG}\n")
    assert "réservée" not in after.stdout
    assert f"Campagne {SLUG}\u00a0: 1 participant" in after.stdout
    assert f"{SLUG}\tclosed" in qn.ok("campaign", "list", "--format", "tsv").stdout
