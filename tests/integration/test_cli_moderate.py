"""`qn-bot moderate SLUG list [--hidden] | hide ID... | show ID...` and `campaign create|set
--moderation`, as real `qn-bot` processes (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest

from tests.integration.processes import SLUG, QnBot
from tests.integration.test_cli import assert_error, campaign_record

pytestmark = pytest.mark.integration

_LINE = re.compile(r"^#(\d+)\t", re.MULTILINE)


def _ids(listing: str) -> list[int]:
    return [int(n) for n in _LINE.findall(listing)]


def test_moderate_hide_show_list_and_the_trail(qn: QnBot) -> None:
    qn.read("campaign", "create", SLUG, "--flow", "construire-2030", "--title", "C 2030")
    qn.read("campaign", "create", "autre", "--flow", "construire-2030", "--title", "Autre")
    qn.read("campaign", "open", SLUG)
    qn.read("campaign", "open", "autre")
    qn.ok("chat", "--campaign", SLUG, "--as", "alice", input="1\nUne idée sage\nUne insulte\n")
    qn.ok("chat", "--campaign", "autre", "--as", "bob", input="1\nAilleurs\n")
    listing = qn.read("moderate", SLUG, "list").stdout
    newest, oldest = _ids(listing)
    assert newest > oldest  # newest first
    assert f"#{newest}\t" in listing
    assert "Une insulte" in listing
    assert "public\t0 flags" in listing
    (elsewhere,) = _ids(qn.read("moderate", "autre", "list").stdout)

    hidden = qn.ok("moderate", SLUG, "hide", f"#{newest}")
    assert hidden.stdout.split() == [f"#{newest}", "hidden"]
    assert [r["text"] for r in qn.export_json() if not r["hidden"]] == ["Une idée sage"]
    only = qn.read("moderate", SLUG, "list", "--hidden").stdout
    assert _ids(only) == [newest]
    assert "Une insulte" in only
    assert "hidden" in only
    assert re.search(rf"\thide\t#{newest}\tcli$", only, re.MULTILINE), only

    # Unknown ids and ids of another campaign: said, and nothing done.
    assert_error(qn("moderate", SLUG, "show", f"#{oldest}", "99999"), 1, "#99999")
    assert_error(qn("moderate", SLUG, "hide", str(elsewhere)), 1, f"#{elsewhere}", SLUG)
    assert_error(qn("moderate", SLUG, "hide", "abc"), 1, "not an item id")
    assert_error(qn("moderate", "nulle-part", "list"), 1, "no campaign")
    assert len(_ids(qn.read("moderate", SLUG, "list", "--hidden").stdout)) == 1

    qn.ok("moderate", SLUG, "show", str(newest))
    assert all(not r["hidden"] for r in qn.export_json())
    trail = qn.read("moderate", SLUG, "list", "--hidden").stdout
    assert _ids(trail) == []
    assert [line.split("\t")[1] for line in trail.splitlines()[2:]] == ["show", "hide"]


def test_campaign_moderation_option_and_pre_moderation(qn: QnBot) -> None:
    qn.ok(
        "campaign", "create", SLUG, "--flow", "construire-2030", "--title", "C",
        "--moderation", "pre",
    )  # fmt: skip
    assert campaign_record(qn.config, SLUG).moderation.value == "pre"
    qn.read("campaign", "open", SLUG)
    qn.ok("chat", "--campaign", SLUG, "--as", "alice", input="1\nEn attente\n")
    listing = qn.read("moderate", SLUG, "list").stdout
    assert "awaiting approval" in listing
    assert [r["hidden"] for r in qn.export_json()] == [True]
    (item,) = _ids(listing)
    qn.read("moderate", SLUG, "show", str(item))
    assert [r["hidden"] for r in qn.export_json()] == [False]
    changed = qn.ok("campaign", "set", SLUG, "--moderation", "post")
    assert changed.stdout.split() == [SLUG, "moderation=post"]
    assert_error(qn.inproc("campaign", "set", SLUG, "--moderation", "jamais"), 2, "--moderation")
    assert_error(qn.inproc("campaign", "set", SLUG), 2, "--min-respondents", "--moderation")
    assert "example" in qn.read("moderate", "--help").stdout
