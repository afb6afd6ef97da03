"""The participant machine (qn_bot.conversation): golden transcripts, its state reloaded from
JSON between every step, and decisions under a fixed clock. No database: a small in-memory
world stands for what the service loads and writes."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from qn_bot.commands import parse_command
from qn_bot.conversation import (
    Awaiting,
    Card,
    CardShown,
    CastVote,
    Deck,
    Edited,
    Effect,
    Erase,
    EraseTexts,
    Facilitate,
    FlowChanged,
    Kind,
    Machine,
    Missing,
    ParticipantState,
    Received,
    Report,
    SendMyData,
    Session,
    SetSignature,
    Snapshot,
)
from qn_bot.domain import CampaignStatus
from qn_bot.flows.engine import Engine
from qn_bot.flows.events import ItemDeleted, ItemRevised, Say
from qn_bot.flows.loader import load_flow_text
from qn_bot.flows.state import SessionState
from qn_bot.i18n import default_catalog
from qn_bot.records import CampaignRecord, Vote
from tests.transcript import check_golden, render
from tests.unit.test_engine import SMALL_FLOW

NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
FRENCH_ONLY = """
id = "seul"
version = 1
languages = ["fr"]
title = "Seul"

[[steps]]
id = "q"
kind = "text"
prompt = "Votre avis ?"
"""


def campaign(cid: int, slug: str, status: CampaignStatus = CampaignStatus.OPEN) -> CampaignRecord:
    return CampaignRecord(
        id=cid,
        slug=slug,
        title=slug.capitalize(),
        edition=None,
        flow_id="petit" if cid != 9 else "seul",
        flow_version=1,
        flow_source="",
        status=status,
        opens_at=None,
        closes_at=None,
        created_at=NOW,
        updated_at=NOW,
    )


ENGINES = {
    "petit": Engine(load_flow_text(SMALL_FLOW, "petit.toml"), default_catalog()),
    "seul": Engine(load_flow_text(FRENCH_ONLY, "seul.toml"), default_catalog()),
}


@dataclass
class World:
    """What the database would hold: campaigns, the citizen's state and sessions."""

    campaigns: dict[int, CampaignRecord]
    state: ParticipantState = field(default_factory=ParticipantState)
    sessions: dict[int, Session] = field(default_factory=dict)
    facilitator: bool = False
    erased: bool = False
    transcript: list[str] = field(default_factory=list)
    loads: int = 0
    next_session: int = 100
    cards: list[Card] = field(default_factory=list)  # others' statements, in priority order
    votes: dict[int, Vote] = field(default_factory=dict)

    def snapshot(self) -> Snapshot:
        """Everything at once (the service loads on demand: see test_missing_*)."""
        return Snapshot(
            participant=self.state,
            pseudonym="P-TEST",
            default_language="fr",
            engine=lambda c: ENGINES[self.campaigns[c.id].flow_id],
            campaigns=dict(self.campaigns),
            sessions={cid: self.sessions.get(cid) for cid in self.campaigns},
            by_slug={"gamma": None, **{c.slug: c.id for c in self.campaigns.values()}},
            open_campaigns=tuple(
                c.id for c in self.campaigns.values() if c.status is CampaignStatus.OPEN
            ),
            facilitator=self.facilitator,
            decks={cid: self.deck() for cid in self.campaigns},
        )

    def deck(self) -> Deck:
        on_screen = next((c for c in self.cards if c.item_id == self.state.card), None)
        return Deck(on_screen, tuple(c for c in self.cards if c.item_id not in self.votes)[:2])

    def send(self, line: str, now: datetime = NOW, *, arrived: datetime | None = None) -> None:
        # Serialise and reload between steps: the state must survive any restart.
        reloaded = ParticipantState.from_json(json.loads(json.dumps(self.state.to_json())))
        assert reloaded == self.state
        self.state = reloaded
        if line.startswith("#"):
            received = Received(Kind.CHOICE, choice_id=line[1:], arrived_at=arrived)
        else:
            received = Received(
                Kind.TEXT, text=line, command=parse_command(line), arrived_at=arrived
            )
        decided = Machine(default_catalog()).decide(self.snapshot(), received, now)
        assert not isinstance(decided, Missing)
        self.state, effects = decided
        self.transcript.append(f"> {line}")
        self.apply(effects)
        self.transcript.append(f"  [{self.status()}]")

    def apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case Say():
                    self.transcript.extend(render([effect]))
                case FlowChanged(campaign=c, state=state, events=events):
                    old = self.sessions.get(c.id)
                    if effect.session_id is None:
                        assert old is None or old.id == effect.replaces
                        self.next_session += 1
                        sid = self.next_session
                    else:
                        assert old is not None
                        assert effect.session_id == old.id
                        sid = old.id
                    round_trip = SessionState.from_json(json.loads(json.dumps(state.to_json())))
                    self.sessions[c.id] = Session(sid, round_trip)
                    self.transcript.extend(render(list(events)))
                case Facilitate(command=command):
                    self.transcript.append(f"  (Facilitate: /{command.name} {command.arg})")
                case SendMyData():
                    self.transcript.append("  (SendMyData)")
                case SetSignature(signature=signature, done=done):
                    name = None if signature is None else signature.text
                    self.transcript.append(f"  (SetSignature: {name!r})")
                    self.transcript.extend(render([Say(done)]))
                case Erase():
                    self.erased = True
                    self.transcript.append("  (Erase)")
                case CastVote(item_id=item, value=value):
                    self.votes[item] = value
                    self.transcript.append(f"  (CastVote: {item} {value.name})")
                case CardShown(item_id=item):
                    self.transcript.append(f"  (CardShown: {item})")
                case Report():
                    self.transcript.append("  (Report)")

    def status(self) -> str:
        s = self.state
        card = f", card={s.card} ({s.cards_shown})" if s.card is not None else ""
        return (
            f"{s.status.value}, stopped={s.stopped}, language={s.language}, "
            f"campaign={s.active_campaign_id}{card}"
        )

    def text(self) -> str:
        return "\n".join(self.transcript) + "\n"


def two_campaigns() -> World:
    return World({1: campaign(1, "alpha"), 2: campaign(2, "beta")})


# ---------------------------------------------------------------------- golden transcripts


def test_golden_campaign_choice_stop_language_and_forget() -> None:
    world = two_campaigns()
    for line in [
        "bonjour",  # no campaign yet: the open ones are offered
        "je ne sais pas",  # not one of them: offered again
        "2",  # beta, by number
        "oui",  # consent
        "une idée",
        "/stop",
        "/reprendre",  # back: the question again
        "/langue de",  # not a language of the flow
        "/language en",
        "/aide",
        "/start alpha",
        "/start gamma",
        "/signer Camille Martin",
        "/signer",
        "/signer 1234",
        "/mes_donnees",
        "/oublier",
        "non",  # cancelled
        "/oublier",
        "/suivant",  # a command cancels and is then served
        "/forget",
        "#forget_yes",
    ]:
        world.send(line)
    assert world.erased
    check_golden("participant_machine", world.text())


def test_golden_closed_campaign_keeps_rights() -> None:
    world = World({1: campaign(1, "alpha")})
    for line in ["/start", "oui", "une idée"]:
        world.send(line)
    world.campaigns[1] = replace(world.campaigns[1], status=CampaignStatus.CLOSED)
    for line in ["encore une", "/mes_reponses", "/inconnue", "/aide", "/langue en", "/stop"]:
        world.send(line)
    check_golden("participant_machine_closed", world.text())


def test_golden_voting_cards() -> None:
    """/voter: cards one at a time, answered by number, label or button (a late press of an
    earlier card changes its vote and moves nothing), five a session then « Encore 5 ? »,
    /signaler keeps the card, other text leaves the cards, and the end is said."""
    world = World({1: campaign(1, "alpha")})
    world.cards = [Card(100 + n, f"Idée numéro {n}") for n in range(1, 9)]
    for line in [
        "/voter",  # in no campaign yet
        "/start",
        "oui",
        "une idée",
        "/suivant",
        "3",
        "/voter",
        "1",
        "pas d'accord",
        "#vote:1:101:pass",  # card 1's button, late: its vote changes, nothing moves
        "/signaler",
        "3",
        "#vote:1:104:agree",  # the card on screen, by its button
        "2",
        "#vote_more_yes",
        "1",
        "une autre idée",  # not a vote: the cards are left, the flow takes it
        "/vote",
        "1",
        "1",
    ]:
        world.send(line)
    assert world.votes == {
        101: Vote.PASS,
        102: Vote.DISAGREE,
        103: Vote.PASS,
        104: Vote.AGREE,
        105: Vote.DISAGREE,
        106: Vote.AGREE,
        107: Vote.AGREE,
        108: Vote.AGREE,
    }
    check_golden("participant_machine_voting", world.text())


def test_the_card_on_screen_survives_a_restart_in_the_participant_row() -> None:
    state = ParticipantState().showing(123, 4, NOW)
    assert state.pending_action == "vote:123:4"
    back = ParticipantState.from_columns(
        pending_action=state.pending_action,
        pending_since=NOW,
        stopped=False,
        language=None,
        active_campaign_id=None,
    )
    assert back == state


def test_the_closing_message_offers_the_cards() -> None:
    world = World({1: campaign(1, "alpha")})
    for line in ["/start", "oui", "une idée", "/suivant", "3", "1", "/suivant", "4"]:
        world.send(line)
    assert "/voter" not in world.text()
    world.send("42")  # then the review: confirmed, the flow is done
    world.send("#done")
    closing = world.text().split("> #done")[-1]
    assert "Vos réponses sont enregistrées" in closing
    assert "Donnez votre avis sur leurs idées, 5 à la fois\u00a0: /voter" in closing
    assert "[/voter] 🗳 Voter" in closing


# ---------------------------------------------------------------------- decisions


def test_a_pending_question_answered_before_it_was_asked_is_asked_again() -> None:
    world = two_campaigns()
    world.send("/start", NOW)
    assert world.state.status is Awaiting.CAMPAIGN_CHOICE
    assert world.state.asked_at == NOW
    world.send("1", NOW + SECOND, arrived=NOW - SECOND)
    assert world.state.status is Awaiting.CAMPAIGN_CHOICE
    assert "avant que la question ne s’affiche" in world.text()
    world.send("1", NOW + 2 * SECOND, arrived=NOW + SECOND)
    assert (world.state.status, world.state.active_campaign_id) == (Awaiting.NOTHING, 1)


def test_in_another_chat_the_screen_is_shown_there_first_and_dated_again() -> None:
    world = World({1: campaign(1, "alpha")})
    world.send("/oublier", NOW)
    received = Received(Kind.TEXT, text="oui", same_chat=False)
    later = NOW + 5 * SECOND
    decided = Machine(default_catalog()).decide(world.snapshot(), received, later)
    assert not isinstance(decided, Missing)
    state, effects = decided
    assert not any(isinstance(e, Erase) for e in effects)  # shown again, not taken
    assert (state.status, state.asked_at) == (Awaiting.FORGET_CONFIRMATION, later)


def test_a_language_the_flow_lacks_is_refused_and_changes_nothing() -> None:
    """Before, the participant's language changed to English while their French-only flow
    went on in French and the engine answered with the usage."""
    world = World({9: campaign(9, "seul")})
    world.send("/start")
    world.send("/langue en")
    assert world.state.language is None
    assert "Langues disponibles\u00a0: /langue fr" in world.text()
    world.send("/langue fr")
    assert world.state.language == "fr"


def test_aide_shows_the_facilitator_commands_to_facilitators_only() -> None:
    world = World({1: campaign(1, "alpha")})
    world.send("/aide")
    assert "/campagnes" not in world.text()
    world.facilitator = True
    world.send("/aide")
    assert "Commandes d’animation" in world.text()
    assert "/campagnes — " in world.text()


def test_the_decision_says_what_it_lacks_before_running_the_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World({1: campaign(1, "alpha")})
    world.send("/start")
    runs: list[str] = []
    real = Engine.resume

    def counted(self: Engine, *args: object, **kw: object) -> object:
        runs.append("resume")
        return real(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Engine, "resume", counted)
    machine = Machine(default_catalog())
    partial = replace(world.snapshot(), campaigns={}, sessions={})
    decided = machine.decide(partial, Received(Kind.TEXT, text="oui"), NOW)
    assert isinstance(decided, Missing)
    assert decided.need.campaigns == {1}
    assert runs == []
    decided = machine.decide(
        replace(partial, campaigns={1: world.campaigns[1]}), Received(Kind.TEXT, text="oui"), NOW
    )
    assert isinstance(decided, Missing)
    assert decided.need.sessions == {1}
    assert runs == []
    decided = machine.decide(world.snapshot(), Received(Kind.TEXT, text="oui"), NOW)
    assert not isinstance(decided, Missing)
    assert runs == ["resume"]


def test_participant_state_round_trips_through_json() -> None:
    state = ParticipantState(Awaiting.FORGET_CONFIRMATION, NOW, True, "en", 3)
    assert ParticipantState.from_json(json.loads(json.dumps(state.to_json()))) == state
    assert state.pending_action == "forget"
    assert ParticipantState().pending_action is None


def test_platform_edits_and_deletions_are_decided_here() -> None:
    world = World({1: campaign(1, "alpha")})
    for line in ["/start", "oui", "une idée"]:
        world.send(line)
    session = world.sessions[1]
    machine = Machine(default_catalog())

    def edited(**kw: object) -> list[Effect]:
        edit = Edited(campaign_id=1, session_id=session.id, seqs=(1,), **kw)  # type: ignore[arg-type]
        decided = machine.edited(world.snapshot(), edit, NOW)
        assert not isinstance(decided, Missing)
        return decided[1]

    (changed,) = edited(deleted=False, text="une idée revue")
    assert isinstance(changed, FlowChanged)
    assert isinstance(changed.events[0], ItemRevised)
    (refused,) = edited(deleted=False, text="- deux\n- idées")
    assert isinstance(refused, Say)
    changed, erase = edited(deleted=True)
    assert isinstance(changed, FlowChanged)
    assert isinstance(changed.events[0], ItemDeleted)
    assert erase == EraseTexts(session.id, (1,))
    world.campaigns[1] = replace(world.campaigns[1], status=CampaignStatus.CLOSED)
    (closed,) = edited(deleted=False, text="trop tard")
    assert isinstance(closed, Say)
    assert "close" in closed.message.text
    changed, erase = edited(deleted=True)  # a right that outlives the campaign
    assert isinstance(erase, EraseTexts)
    wrong = Edited(deleted=True, campaign_id=1, session_id=session.id + 1, seqs=(1,))
    assert machine.edited(world.snapshot(), wrong, NOW) == (world.state, [])


def test_the_machine_imports_nothing_of_the_store() -> None:
    code = (
        "import sys, qn_bot.conversation; "
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'qn_bot.store'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_start_after_finishing_the_only_open_campaign_offers_the_answers_not_a_loop() -> None:
    world = World({9: campaign(9, "seul")})
    for line in ["/start", "mon avis", "#done"]:
        world.send(line)
    assert "Completed" in world.text()
    del world.transcript[:]
    world.send("/start")
    said = world.text()
    assert "/mes_reponses" in said
    assert "/start" not in said.replace("> /start", "")
    assert "plus rien" in said
