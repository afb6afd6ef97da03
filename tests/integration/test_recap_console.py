"""Recaps through real `qn-bot` processes on the console: /bilan in `qn-bot chat`, and
`qn-bot recap send` queueing each citizen's recap once however often it is run."""

from __future__ import annotations

import pytest

from tests.integration.processes import SLUG, QnBot

pytestmark = pytest.mark.integration

IDEAS = {
    "alice": "Des pistes cyclables partout",
    "bob": "Des pistes cyclables sûres",
    "carl": "Des pistes cyclables pour les vélos",
}


def test_bilan_in_the_console_and_recap_send_once(qn: QnBot) -> None:
    qn.config.write_text(
        qn.config.read_text(encoding="utf-8")
        + '\n[site]\nmin_respondents = 2\nbase_url = "https://example.org/s/"\n',
        encoding="utf-8",
    )
    qn.read("campaign", "create", SLUG, "--flow", "construire-2030", "--title", "C 2030")
    qn.read("campaign", "set", SLUG, "--min-respondents", "2")
    qn.read("campaign", "open", SLUG)
    # Bob and Carl answer at once (each process start costs seconds on a busy machine)…
    chats = qn.parallel_any(
        *(("chat", "--campaign", SLUG, "--as", who) for who in ("bob", "carl")),
        inputs=[f"1\n{IDEAS[who]}\n" for who in ("bob", "carl")],
        timeout=120,
    )
    for chat in chats:
        assert chat.rc == 0, str(chat)
    # … then Alice gives her idea and asks for her recap.
    out = qn.ok(
        "chat", "--campaign", SLUG, "--as", "alice", input=f"1\n{IDEAS['alice']}\n/bilan\n"
    ).stdout
    recap = out[out.index("📬 Votre bilan — C 2030") :]
    assert "«\u00a0Des pistes cyclables partout\u00a0»" in recap
    assert (
        "thème «\u00a0pistes cyclables\u00a0»\u00a0: 2 autres personnes ont exprimé une idée proche"
        in recap
    )
    assert f"https://example.org/s/{SLUG}.html" in recap
    assert "/oublier" in recap
    assert "3 queued, 0 already sent" in qn.read("recap", "send", SLUG).stdout
    assert "0 queued, 3 already sent" in qn.read("recap", "send", SLUG).stdout
    assert "3 queued" in qn.read("recap", "send", SLUG, "--wave", "again").stdout


def test_a_terminal_chat_leaves_the_services_jobs_to_the_service(qn: QnBot) -> None:
    """`qn-bot chat` is one citizen's terminal, beside the running bot: it sends no recap wave
    (nor digest, reminder or purge) — the service does, once (DESIGN: `run` = adapters +
    scheduler + outbox worker)."""
    qn.read("campaign", "create", SLUG, "--flow", "construire-2030", "--title", "C 2030")
    qn.read("campaign", "open", SLUG)
    qn.ok("chat", "--campaign", SLUG, "--as", "gus", input=f"1\n{IDEAS['bob']}\n")
    qn.read("campaign", "close", SLUG)  # the "closed" wave is due from now on
    out = qn.ok("chat", "--as", "gus", input="/mes_reponses\n").stdout
    assert "📬" not in out, out
    assert "1 queued, 0 already sent" in qn.read("recap", "send", SLUG, "--wave", "closed").stdout
    # Queued for Gus, it is shown at his next chat.
    assert "📬 Votre bilan — C 2030" in qn.ok("chat", "--as", "gus", input="").stdout
