"""Step kinds come from one registry: a kind defined in tests/ (one module, one registration
line) is checked by the loader and asked, answered, reviewed and summed up by the engine and the
synthesis, none of which names it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from qn_bot.domain import CampaignStatus
from qn_bot.errors import FlowError
from qn_bot.flows.engine import Engine
from qn_bot.flows.events import ItemAdded, ItemRevised
from qn_bot.flows.kinds import KINDS
from qn_bot.flows.loader import load_flow_text
from qn_bot.flows.state import Status
from qn_bot.i18n import default_catalog
from qn_bot.records import CampaignRecord, ItemRecord
from qn_bot.synthesis import build_synthesis
from tests.step_kind_yesno import YesNoKind
from tests.transcript import NOW, Run, render

FLOW = """
id = "oui-non"
version = 1
languages = ["fr"]
title = "Oui ou non"

[[steps]]
id = "velo"
kind = "yesno"
prompt = "Venez-vous à vélo ?"
section = "À vélo"
required = true

[[steps]]
id = "pourquoi"
kind = "text"
prompt = "Pourquoi pas ?"
when = "velo == 'no'"
"""


@pytest.fixture
def yesno() -> Iterator[None]:
    KINDS.register(YesNoKind())
    try:
        yield
    finally:
        KINDS.unregister("yesno")


def test_an_unregistered_kind_is_refused() -> None:
    with pytest.raises(FlowError, match="kind 'yesno' is not one of info, consent, text"):
        load_flow_text(FLOW, "oui-non.toml")


@pytest.mark.usefixtures("yesno")
def test_the_loader_checks_the_new_kind_by_its_keys() -> None:
    bad = FLOW.replace("required = true", "max_items = 3")
    with pytest.raises(FlowError) as caught:
        load_flow_text(bad, "oui-non.toml")
    assert [p.problem for p in caught.value.problems] == [
        "'max_items' does not apply to a yesno step (only to list)"
    ]
    other = FLOW.replace('kind = "text"', 'kind = "list"\nmax_items = 3')
    assert load_flow_text(other, "f.toml").step("velo").kind == "yesno"
    unknown = FLOW.replace('kind = "text"', 'kind = "nope"')
    with pytest.raises(FlowError, match=r"is not one of .*, number, yesno"):
        load_flow_text(unknown, "oui-non.toml")


@pytest.mark.usefixtures("yesno")
def test_a_kind_has_options_of_its_own() -> None:
    """A key only the new kind declares reaches its steps (``Step.options``), is checked by the
    kind, and is refused on another kind's step."""
    own = FLOW.replace("required = true", 'required = true\nmarks = ["👍", "👎"]')
    flow = load_flow_text(own, "oui-non.toml")
    assert flow.step("velo").options == {"marks": ["👍", "👎"]}
    assert flow.step("pourquoi").options == {}
    run = Run.start(flow, Engine(flow, default_catalog()))
    asked = run.transcript.index("Venez-vous à vélo ?")
    assert run.transcript[asked + 1 : asked + 3] == ["  [#yes] 👍", "  [#no] 👎"]
    events = run.send("non")
    assert [e for e in events if isinstance(e, ItemAdded)] == [ItemAdded(1, "velo", "👎", "no")]

    bad = FLOW.replace("required = true", 'marks = ["👍"]')
    with pytest.raises(FlowError) as caught:
        load_flow_text(bad, "oui-non.toml")
    assert [p.problem for p in caught.value.problems] == [
        "marks must be two labels, yes then no, not ['👍']"
    ]
    elsewhere = FLOW.replace('kind = "text"', 'kind = "text"\nmarks = ["a", "b"]')
    with pytest.raises(FlowError) as caught:
        load_flow_text(elsewhere, "oui-non.toml")
    assert [p.problem for p in caught.value.problems] == [
        "'marks' does not apply to a text step (only to yesno)"
    ]


@pytest.mark.usefixtures("yesno")
def test_a_flow_runs_through_the_engine_with_the_new_kind() -> None:
    flow = load_flow_text(FLOW, "oui-non.toml")
    engine = Engine(flow, default_catalog())
    run = Run.start(flow, engine)
    assert run.transcript[1:5] == [
        "Question 1 sur 1",  # the second question is asked only after a no
        "Venez-vous à vélo ?",
        "  [#yes] ✔",
        "  [#no] ✘",
    ]

    assert "/passer" not in run.text()
    run.send("/passer")
    assert run.state.step_id == "velo"  # required: it cannot be skipped

    events = run.send("non")
    assert [e for e in events if isinstance(e, ItemAdded)] == [ItemAdded(1, "velo", "✘", "no")]
    assert run.state.step_id == "pourquoi"  # its `when` sees the new kind's value

    run.send("/retour")
    assert "Votre réponse actuelle\u00a0: ✘" in "\n".join(render(run.events[-1:]))
    events = run.send("#yes")
    assert [e for e in events if isinstance(e, ItemRevised)] == [ItemRevised(1, 2, "✔", "yes")]
    assert run.state.step_id is None  # `pourquoi` no longer applies: on to the review
    assert "À vélo\n1. ✔" in run.text()
    run.send("/suivant")  # does not send the answers: « Valider » does
    assert run.state.status is Status.ACTIVE
    run.send("Valider")
    assert run.state.status is Status.COMPLETED


@pytest.mark.usefixtures("yesno")
def test_the_synthesis_sums_up_the_new_kind() -> None:
    flow = load_flow_text(FLOW, "oui-non.toml")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    campaign = CampaignRecord(
        id=1,
        slug="oui-non",
        title="Oui ou non",
        edition=None,
        flow_id="oui-non",
        flow_version=1,
        flow_source=FLOW,
        status=CampaignStatus.OPEN,
        opens_at=None,
        closes_at=None,
        created_at=at,
        updated_at=at,
    )
    items = [
        ItemRecord(
            id=n,
            campaign_slug="oui-non",
            participant_id=n,
            pseudonym=f"P-{n}",
            step_id="velo",
            seq=1,
            text="✔",
            value=value,
            revision=1,
            created_at=at,
            updated_at=at,
        )
        for n, value in enumerate(("yes", "yes", "no"), start=1)
    ]
    synthesis = build_synthesis(campaign, flow, items, "fr", NOW, participants=3)
    (section, _) = synthesis.sections
    assert [b.text for b in section.bullets] == ["✔ 2 · ✘ 1"]
