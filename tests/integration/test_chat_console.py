"""`qn-bot chat` as a real process: the first line, the end of input, a closed output, a closed
campaign (docs/architecture.md, console protocol)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.integration.construire import CONSENT_QUESTION, NOTED, WELCOME_BACK, prompt
from tests.integration.processes import SLUG, TIMEOUT, QnBot

pytestmark = pytest.mark.integration

WELCOME = "Bienvenue\u00a0!"
GOODBYE = "Au revoir\u00a0! Votre place est gardée"
THANKS_CONSENT = "Merci\u00a0! Commençons."


def consents(result_stdout: str) -> list[object]:
    """The consent of each session, from the JSON that /mes_donnees prints."""
    start = result_stdout.index("{")
    data, _ = json.JSONDecoder().raw_decode(result_stdout[start:])
    return [s["consent_flow_version"] for s in data["sessions"]]


# ---------------------------------------------------------------------------------- first line


def test_a_first_line_oui_is_not_consent(qn: QnBot) -> None:
    """`printf 'oui\\n' | qn-bot chat --as bob`: nothing was on screen before "oui"."""
    out = qn.ok("chat", "--as", "bob", input="oui\n/mes_donnees\n").stdout
    assert WELCOME in out
    assert CONSENT_QUESTION in out
    assert THANKS_CONSENT not in out
    assert prompt("pourquoi") not in out
    assert consents(out) == [None]
    # Bob coming back is shown the consent he has not given.
    again = qn.ok("chat", "--as", "bob", input="").stdout
    assert CONSENT_QUESTION in again


def test_a_first_line_bonjour_gets_the_welcome_and_the_consent(qn: QnBot) -> None:
    out = qn.ok("chat", "--as", "carol", input="Bonjour\n").stdout
    assert WELCOME in out
    assert CONSENT_QUESTION in out
    assert "pas compris" not in out
    assert (
        out.rstrip().removesuffix(out.rstrip().splitlines()[-1]).rstrip().endswith("[2] Je refuse")
    ), out


def test_with_a_campaign_the_consent_is_on_screen_before_the_first_line(qn: QnBot) -> None:
    """`chat --campaign` shows the consent at once; the next line is read after it."""
    out = qn.ok("chat", "--campaign", SLUG, "--as", "dan", input="1\n").stdout
    assert out.index(CONSENT_QUESTION) < out.index(THANKS_CONSENT)
    assert prompt("pourquoi") in out


# ---------------------------------------------------------------------------------- end of input


def test_every_reply_is_printed_before_the_chat_ends_at_end_of_input(qn: QnBot) -> None:
    ideas = [f"idée {n}" for n in range(1, 11)]
    first = qn.ok("chat", "--campaign", SLUG, "--as", "erin", input="\n".join(["1", *ideas]) + "\n")
    counts = [int(m.group(1)) for m in NOTED.finditer(first.stdout)]
    assert counts == list(range(1, 11)), first.stdout[-500:]
    # Each time she comes back, the whole opening (greeting, question, what she gave) is
    # printed, and nothing left over from an earlier chat comes first.
    for _ in range(3):
        out = qn.ok("chat", "--as", "erin", input="").stdout
        assert out.startswith(WELCOME_BACK), out
        assert prompt("pourquoi") in out, out
        *_, last_question_line, goodbye = out.splitlines()
        assert "10" in last_question_line, out
        assert goodbye.startswith(GOODBYE), out
        assert "Noté" not in out


def test_end_of_input_says_goodbye_and_that_the_place_is_kept(qn: QnBot) -> None:
    """Ctrl-D on the console: the chat ends with a goodbye, after every answer."""
    out = qn.ok("chat", "--campaign", SLUG, "--as", "hal", input="1\nUne idée\n").stdout
    assert out.rstrip().splitlines()[-1].startswith(GOODBYE), out
    assert out.count(GOODBYE) == 1, out


# ---------------------------------------------------------------------------------- closed output


def test_a_closed_output_ends_the_chat_quietly(qn: QnBot) -> None:
    """`qn-bot chat … | head -1`: the reader has gone; the chat ends, with no traceback."""
    proc = subprocess.Popen(
        qn.argv("chat", "--campaign", SLUG, "--as", "fay"),
        cwd=qn.workdir,
        env=qn.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdin is not None
        assert proc.stdout.readline()  # like head -1
        proc.stdout.close()
        # Stdin stays open: the chat must notice on its own that nobody reads it any more.
        deadline = time.monotonic() + TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                proc.stdin.write("une idée\n".encode())
                proc.stdin.flush()
            except BrokenPipeError:
                break
            time.sleep(0.2)
        rc = proc.wait(timeout=TIMEOUT)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 0, err
    assert "Traceback" not in err, err
    assert "BrokenPipe" not in err, err


# ---------------------------------------------------------------------------------- closed campaign


def test_a_closed_campaign_is_said_closed_and_rights_still_work(qn: QnBot) -> None:
    qn.ok("chat", "--campaign", SLUG, "--as", "gus", input="1\nUne idée de Gus\n")
    qn.ok("campaign", "close", SLUG)
    # Another campaign opens meanwhile: coming back must not lead Gus into it.
    qn.ok("campaign", "create", "suite-2030", "--flow", "construire-2030", "--title", "Suite")
    qn.ok("campaign", "open", "suite-2030")
    out = qn.ok("chat", "--as", "gus", input="/mes_reponses\n/mes_donnees\n/stop\n").stdout
    first = out.splitlines()[0]
    assert "close" in first, out
    assert CONSENT_QUESTION not in out
    assert "Une idée de Gus" in out  # the review, read only
    assert "ne peuvent plus être modifiées" in out
    assert "[1]" not in out  # nothing offered to change
    assert consents(out) == [1]
    assert "ne recevrez plus" in out
    gone = qn.ok("chat", "--as", "gus", input="/oublier\n1\n").stdout
    assert "effacé" in gone
    assert qn.export_json() == []
