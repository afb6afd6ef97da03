"""Voting cards through the console protocol, as real `qn-bot chat` processes: the choices are
numbered (no buttons), a number votes, five cards make a session, and the end is said."""

from __future__ import annotations

import pytest

from tests.integration.processes import SLUG, QnBot

pytestmark = pytest.mark.integration


def test_voter_by_numbers_in_the_console(qn: QnBot) -> None:
    qn.read("campaign", "create", SLUG, "--flow", "construire-2030", "--title", "C 2030")
    qn.read("campaign", "open", SLUG)
    ideas = "\n".join(f"Idée {n} d'Alice" for n in range(1, 7))
    qn.ok("chat", "--campaign", SLUG, "--as", "alice", input=f"1\n{ideas}\n")
    out = qn.ok(
        "chat",
        "--campaign",
        SLUG,
        "--as",
        "bob",
        input="1\nL'idée de Bob\n/voter\n1\n2\n3\n1\n/signaler\n2\n1\n1\n",
    ).stdout
    print(out)  # the README's card exchange is taken from here
    session = out[out.index("Proposition 1 sur 5") :]
    assert "[1] D'accord\n[2] Pas d'accord\n[3] Passer" in session
    assert "L'idée de Bob" not in session  # never his own
    assert "Merci\u00a0! Encore 5\u00a0?\n[1] Encore 5\n[2] Arrêter là" in session
    assert "L’équipe d’animation va regarder cette idée" in session
    assert "vous les avez toutes vues" in session
    rows = {r["text"] for r in qn.export_json()}
    assert "L'idée de Bob" in rows
