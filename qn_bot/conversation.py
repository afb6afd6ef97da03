"""The participant machine: ``decide(snapshot, received) → (new state, effects)``.

Above the flow engine (one campaign's questions) stands the citizen: which campaign they are in,
whether a question of ours waits on them (confirm /oublier, choose a campaign), /stop, their
language, their signature, their rights. This module decides all of that, and hands the flow's
own inputs to the engine; pure like the engine: no I/O, no awaits, the clock comes in.

What it needs to know comes in a :class:`Snapshot` the service loads. A snapshot may be partial
(the batched path reads little); when the decision needs something the snapshot lacks it says so
with :class:`Missing` *before* running the engine, and the service loads it and decides again.
What it decides comes out as effects, in order; the service writes them (qn_bot.apply) and
sends the replies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from qn_bot.cards import SESSION_CARDS
from qn_bot.commands import Command, Route, help_text, routed
from qn_bot.domain import Button, ButtonKind, CampaignStatus, DeviceLink, OutboundMessage
from qn_bot.flows.engine import (
    ChoiceInput,
    CommandInput,
    DeleteItem,
    EditItem,
    Engine,
    Input,
    TextInput,
)
from qn_bot.flows.events import Event, Say
from qn_bot.flows.kinds import KINDS
from qn_bot.flows.state import SessionState, Status
from qn_bot.i18n import SUPPORTED_LANGUAGES, Catalog
from qn_bot.identity import Signature, SignatureProblem, parse_signature
from qn_bot.records import Vote
from qn_bot.text import normalize, quote, split_items

CAMPAIGN_PREFIX = "campaign:"
#: Choice ids of /moderer's « Masquer » / « Garder » (qn_bot.moderation): ``mod:hide:123``.
MODERATION_PREFIX = "mod:"
#: What a facilitator types to answer /moderer's card without buttons: its numbers or labels.
_MODERATION_WORDS = {
    "1": "hide", "masquer": "hide", "hide": "hide",
    "2": "show", "garder": "show", "keep": "show",
}  # fmt: skip
FORGET_YES, FORGET_NO = "forget_yes", "forget_no"
#: Choice ids of a voting card's buttons: ``vote:<campaign>:<item>:<agree|disagree|pass>`` —
#: a press names its card, whatever is on screen since (a late or repeated press).
VOTE_PREFIX = "vote:"
VOTE_MORE_YES, VOTE_MORE_NO = "vote_more_yes", "vote_more_no"
_VOTE_VALUES = {"agree": Vote.AGREE, "disagree": Vote.DISAGREE, "pass": Vote.PASS}
#: What a citizen types to answer a card without buttons: its numbers or labels.
_VOTE_WORDS = {
    "1": Vote.AGREE, "d'accord": Vote.AGREE, "d’accord": Vote.AGREE, "agree": Vote.AGREE,
    "2": Vote.DISAGREE, "pas d'accord": Vote.DISAGREE, "pas d’accord": Vote.DISAGREE,
    "disagree": Vote.DISAGREE,
    "3": Vote.PASS, "passer": Vote.PASS, "pass": Vote.PASS, "skip": Vote.PASS,
}  # fmt: skip
_MORE_WORDS = frozenset({"1", "oui", "yes", "encore", "encore 5", "5 more", "more"})
_NO_WORDS = frozenset({"2", "non", "no", "arrêter", "arrêter là", "stop here"})
_YES_WORDS = frozenset({"1", "oui", "yes"})


class Campaign(Protocol):
    """What the machine reads of a campaign (a qn_bot.records.Campaign is one:
    the machine itself imports nothing of the store)."""

    @property
    def id(self) -> int: ...

    @property
    def slug(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def status(self) -> CampaignStatus: ...


class Awaiting(StrEnum):
    """The participant's status: which question of ours, if any, waits for their answer."""

    NOTHING = "nothing"
    FORGET_CONFIRMATION = "forget"  # stored as the participant's pending_action
    CAMPAIGN_CHOICE = "choose_campaign"
    MODERATION = "moderate"  # a facilitator's /moderer card waits for « Masquer » / « Garder »
    VOTE = "vote"  # a voting card waits for « D'accord » / « Pas d'accord » / « Passer »
    VOTE_MORE = "vote_more"  # « Encore 5 ? » after a session of cards


@dataclass(frozen=True, slots=True)
class ParticipantState:
    """What the machine keeps about a citizen (the participant row's columns)."""

    status: Awaiting = Awaiting.NOTHING
    asked_at: datetime | None = None  # when the awaited question was asked
    stopped: bool = False
    language: str | None = None
    active_campaign_id: int | None = None
    card: int | None = None  # Awaiting.VOTE: the item on screen
    cards_shown: int = 0  # Awaiting.VOTE: cards shown in this session, that one included

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "asked_at": None if self.asked_at is None else self.asked_at.isoformat(),
            "stopped": self.stopped,
            "language": self.language,
            "active_campaign_id": self.active_campaign_id,
            "card": self.card,
            "cards_shown": self.cards_shown,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParticipantState:
        asked = data["asked_at"]
        return cls(
            status=Awaiting(data["status"]),
            asked_at=None if asked is None else datetime.fromisoformat(asked),
            stopped=bool(data["stopped"]),
            language=data["language"],
            active_campaign_id=data["active_campaign_id"],
            card=data.get("card"),
            cards_shown=int(data.get("cards_shown", 0)),
        )

    @property
    def pending_action(self) -> str | None:
        """As stored: the status, and for a card on screen which one (``vote:<item>:<shown>``:
        the participant row needs no column of its own for it)."""
        if self.status is Awaiting.NOTHING:
            return None
        if self.status is Awaiting.VOTE:
            return f"{self.status.value}:{self.card}:{self.cards_shown}"
        return self.status.value

    @classmethod
    def from_columns(
        cls,
        *,
        pending_action: str | None,
        pending_since: datetime | None,
        stopped: bool,
        language: str | None,
        active_campaign_id: int | None,
    ) -> ParticipantState:
        card: int | None = None
        shown = 0
        status = Awaiting.NOTHING
        if pending_action is not None:
            name, _, rest = pending_action.partition(":")
            status = Awaiting(name)
            if status is Awaiting.VOTE:
                item, _, count = rest.partition(":")
                card, shown = int(item), int(count)
        return cls(
            status=status,
            asked_at=pending_since,
            stopped=stopped,
            language=language,
            active_campaign_id=active_campaign_id,
            card=card,
            cards_shown=shown,
        )

    def awaiting(self, status: Awaiting, now: datetime) -> ParticipantState:
        return replace(
            self,
            status=status,
            asked_at=None if status is Awaiting.NOTHING else now,
            card=None,
            cards_shown=0,
        )

    def showing(self, card: int, shown: int, now: datetime) -> ParticipantState:
        """A voting card on screen, the ``shown``-th of its session."""
        return replace(self, status=Awaiting.VOTE, asked_at=now, card=card, cards_shown=shown)


# ---------------------------------------------------------------------- what comes in


class Kind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"


@dataclass(frozen=True, slots=True)
class Received:
    """A message of the citizen in their private chat, parsed once (commands included)."""

    kind: Kind
    text: str = ""
    choice_id: str | None = None
    command: Command | None = None
    arrived_at: datetime | None = None
    message_id: str | None = None  # kept with the items it gives
    same_chat: bool = True  # written from the chat the bot last asked its question in
    #: /lien: the link the platform made before the transaction, None when it makes none
    device_link: DeviceLink | None = None

    def flow_input(self) -> Input:
        if self.command is not None:
            return CommandInput(self.command.name, self.command.arg, self.command.known)
        if self.kind is Kind.CHOICE and self.choice_id is not None:
            return ChoiceInput(self.choice_id)
        return TextInput(self.text)


@dataclass(frozen=True, slots=True)
class Edited:
    """The citizen edited (or deleted) on the platform a message that gave these items."""

    deleted: bool
    campaign_id: int
    session_id: int
    seqs: tuple[int, ...]
    text: str = ""  # the message as edited


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    state: SessionState


@dataclass(frozen=True, slots=True)
class Card:
    """A statement to vote on: another participant's public item (anonymised: no author)."""

    item_id: int
    text: str


@dataclass(frozen=True, slots=True)
class Deck:
    """What a citizen may vote on next in a campaign: the card on screen (None: none, or no
    longer public) and the next ones in order of priority (qn_bot.cards), none they voted on
    or wrote."""

    on_screen: Card | None
    next: tuple[Card, ...]


@dataclass(frozen=True, slots=True)
class Need:
    """What a partial snapshot lacked: the service loads it and decides again."""

    campaigns: frozenset[int] = frozenset()  # campaign records by id
    sessions: frozenset[int] = frozenset()  # the citizen's sessions, by campaign id
    slugs: frozenset[str] = frozenset()  # campaign records by slug
    open_campaigns: bool = False  # the open campaigns
    facilitator: bool = False  # whether the citizen is a facilitator
    decks: frozenset[int] = frozenset()  # voting cards, by campaign id


class Missing(Exception):
    def __init__(self, need: Need) -> None:
        super().__init__(need)
        self.need = need


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the service knows of the citizen's conversation when it decides."""

    participant: ParticipantState
    pseudonym: str
    default_language: str
    engine: Callable[[Campaign], Engine]
    #: campaign id → record, and → the citizen's session in it (None: known to have none)
    campaigns: Mapping[int, Campaign | None] = field(default_factory=dict)
    sessions: Mapping[int, Session | None] = field(default_factory=dict)
    by_slug: Mapping[str, int | None] = field(default_factory=dict)  # None: no such campaign
    open_campaigns: tuple[int, ...] | None = None  # None: not loaded
    facilitator: bool | None = None  # None: not loaded
    decks: Mapping[int, Deck] = field(default_factory=dict)  # campaign id → voting cards

    def campaign(self, campaign_id: int) -> Campaign | None:
        if campaign_id not in self.campaigns:
            raise Missing(Need(campaigns=frozenset({campaign_id})))
        return self.campaigns[campaign_id]

    def session(self, campaign_id: int) -> Session | None:
        if campaign_id not in self.sessions:
            raise Missing(Need(sessions=frozenset({campaign_id})))
        return self.sessions[campaign_id]

    def slug(self, slug: str) -> Campaign | None:
        if slug not in self.by_slug:
            raise Missing(Need(slugs=frozenset({slug})))
        found = self.by_slug[slug]
        return None if found is None else self.campaigns.get(found)

    def opened(self) -> list[Campaign]:
        if self.open_campaigns is None:
            raise Missing(Need(open_campaigns=True))
        found = [self.campaigns.get(cid) for cid in self.open_campaigns]
        return [campaign for campaign in found if campaign is not None]

    def is_facilitator(self) -> bool:
        if self.facilitator is None:
            raise Missing(Need(facilitator=True))
        return self.facilitator

    def deck(self, campaign_id: int) -> Deck:
        if campaign_id not in self.decks:
            raise Missing(Need(decks=frozenset({campaign_id})))
        return self.decks[campaign_id]


# ---------------------------------------------------------------------- what goes out


@dataclass(frozen=True, slots=True)
class FlowChanged:
    """The engine moved: save ``state`` (in a new session when ``session_id`` is None, after
    deleting the refused one ``replaces``) and write its events (items, consent, replies)."""

    campaign: Campaign
    session_id: int | None
    state: SessionState
    events: tuple[Event, ...]
    source: str | None = None  # the message behind it, kept with its items
    replaces: int | None = None


@dataclass(frozen=True, slots=True)
class Facilitate:
    """A facilitator command: run by qn_bot.facilitation (it reads and writes much)."""

    command: Command


@dataclass(frozen=True, slots=True)
class SendMyData:
    pass


@dataclass(frozen=True, slots=True)
class Report:
    """/signaler: flag the item the citizen is shown (qn_bot.moderation.flag_on_screen)."""


@dataclass(frozen=True, slots=True)
class ShowRecap:
    """/bilan: the citizen's recap as of now (qn_bot.recap.send.current_recap)."""


@dataclass(frozen=True, slots=True)
class CastVote:
    """A vote on a card: the latest one of a citizen on an item wins (a repeated press writes
    the same row again: one vote)."""

    campaign_id: int
    item_id: int
    value: Vote


@dataclass(frozen=True, slots=True)
class CardShown:
    """A card is put before the citizen: ``/signaler`` now flags it (qn_bot.moderation)."""

    item_id: int


@dataclass(frozen=True, slots=True)
class Erase:
    """/oublier confirmed: everything about the citizen goes."""


@dataclass(frozen=True, slots=True)
class SetSignature:
    signature: Signature | None
    taken: OutboundMessage  # said when another participant has that name
    done: OutboundMessage


@dataclass(frozen=True, slots=True)
class EraseTexts:
    """Items deleted on the platform: their words go from every revision and from what waits
    to be sent (the items stay, marked deleted)."""

    session_id: int
    seqs: tuple[int, ...]


Effect = (
    Say
    | FlowChanged
    | Facilitate
    | SendMyData
    | Erase
    | SetSignature
    | EraseTexts
    | Report
    | ShowRecap
    | CastVote
    | CardShown
)


# ---------------------------------------------------------------------- the machine


class Machine:
    """Holds only configuration (the catalogue): one instance serves every citizen."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def decide(
        self, snap: Snapshot, received: Received, now: datetime
    ) -> tuple[ParticipantState, list[Effect]] | Missing:
        """The new state and the effects, or what the snapshot lacks to decide."""
        try:
            decision = _Decision(self.catalog, snap, now)
            effects = decision.received(received)
            return decision.state, effects
        except Missing as missing:
            return missing

    def on_screen(
        self, snap: Snapshot, now: datetime
    ) -> tuple[ParticipantState, list[Effect]] | Missing:
        """What the citizen has in front of them, shown again (a conversation opened)."""
        try:
            decision = _Decision(self.catalog, snap, now)
            effects = decision.on_screen()
            return decision.state, effects
        except Missing as missing:
            return missing

    def edited(
        self, snap: Snapshot, edit: Edited, now: datetime
    ) -> tuple[ParticipantState, list[Effect]] | Missing:
        """A platform edit or deletion of an earlier message revises or deletes its items."""
        try:
            decision = _Decision(self.catalog, snap, now)
            effects = decision.edited(edit)
            return decision.state, effects
        except Missing as missing:
            return missing


class _Decision:
    """One decision: the state as it evolves, and reads of the snapshot (which may raise
    Missing: nothing has been decided for good until the effects are returned)."""

    def __init__(self, catalog: Catalog, snap: Snapshot, now: datetime) -> None:
        self.catalog = catalog
        self.snap = snap
        self.state = snap.participant
        self.now = now

    # -------------------------------------------------------------- words

    @property
    def language(self) -> str:
        language = self.state.language
        return language if language is not None else self.snap.default_language

    def say(self, key: str, **params: object) -> OutboundMessage:
        return OutboundMessage(self.catalog.t(self.language, key, **params))

    def said(self, key: str, **params: object) -> Say:
        return Say(self.say(key, **params))

    # -------------------------------------------------------------- entry points

    def received(self, msg: Received) -> list[Effect]:
        command = msg.command
        if msg.kind is Kind.CHOICE and (msg.choice_id or "").startswith(VOTE_PREFIX):
            # A card's button names its card: taken whenever it comes (late, or pressed twice).
            return self.vote_pressed(msg.choice_id or "")
        if command is None and not msg.same_chat:
            # Another chat of the same person (a second Matrix direct chat): what the bot asked
            # was shown elsewhere, not there. Shown there first; answered from there next.
            shown = self.on_screen()
            if shown:
                return shown
        if (
            self.state.status is not Awaiting.NOTHING
            and command is None
            and _arrived_before(msg.arrived_at, self.state.asked_at)
        ):
            # Not an answer to a question that was not on screen yet: asked again.
            return [self.said("not_on_screen"), *self.pending_question()]
        if msg.kind is Kind.CHOICE and (msg.choice_id or "").startswith(MODERATION_PREFIX):
            # A /moderer button: it names its item, whatever was asked since.
            _, act, item = (msg.choice_id or "").split(":", 2)
            return [Facilitate(Command("moderer", f"{act} {item}", known=True))]
        if self.state.status is Awaiting.MODERATION and command is None:
            answer = _MODERATION_WORDS.get(normalize(msg.text).casefold())
            if answer is not None:
                return [Facilitate(Command("moderer", answer, known=True))]
            self.state = self.state.awaiting(Awaiting.NOTHING, self.now)
        if self.state.status is Awaiting.VOTE and command is None and self.state.card is not None:
            value = _VOTE_WORDS.get(normalize(msg.text).casefold())
            if value is not None and self.state.active_campaign_id is not None:
                return self.vote(self.state.active_campaign_id, self.state.card, value)
            # Anything else leaves the cards: it is meant for the flow.
            self.state = self.state.awaiting(Awaiting.NOTHING, self.now)
        if self.state.status is Awaiting.VOTE_MORE and command is None:
            typed = normalize(msg.text).casefold()
            if msg.choice_id == VOTE_MORE_YES or typed in _MORE_WORDS:
                return self.show_card(0)
            self.state = self.state.awaiting(Awaiting.NOTHING, self.now)
            if msg.choice_id == VOTE_MORE_NO or typed in _NO_WORDS:
                return [self.said("vote_bye")]
        if (
            self.state.status in (Awaiting.VOTE, Awaiting.VOTE_MORE)
            and command is not None
            and command.name != "signaler"  # it flags the card on screen, which stays
        ):
            self.state = self.state.awaiting(Awaiting.NOTHING, self.now)
        if self.state.status is Awaiting.FORGET_CONFIRMATION:
            return self.confirm_forget(msg)
        if self.state.status is Awaiting.CAMPAIGN_CHOICE and command is None:
            return self.choose_campaign(msg)
        if command is not None and command.known and command.name == "lien":
            link = msg.device_link
            if link is None:
                return [self.said("device_link_none")]
            return [self.said("device_link", url=link.url, minutes=link.minutes)]
        if command is not None:
            handled = self.command(command)
            if handled is not None:
                return handled
        return self.to_flow(msg)

    def on_screen(self) -> list[Effect]:
        """What the citizen has in front of them, shown again (and dated again: what arrived
        before was meant for something else, e.g. another chat); no answer changes."""
        if self.state.status is not Awaiting.NOTHING:
            self.state = self.state.awaiting(self.state.status, self.now)
            return self.pending_question()
        campaign_id = self.state.active_campaign_id
        if campaign_id is None:
            return []
        campaign = self.snap.campaign(campaign_id)
        session = self.snap.session(campaign_id)
        if campaign is None or session is None:
            return []
        if campaign.status is not CampaignStatus.OPEN:
            return [self.said("campaign_closed", title=campaign.title)]
        return self.show_again(campaign, session)

    # -------------------------------------------------------------- commands

    def command(self, command: Command) -> list[Effect] | None:
        """Commands about the participant rather than the flow; None lets the flow answer."""
        name = command.name
        if not command.known:
            return None
        if routed(name, Route.FACILITATOR):
            if name == "moderer":
                # Its card is answered by number or label where there are no buttons.
                self.state = self.state.awaiting(Awaiting.MODERATION, self.now)
            elif self.state.status is Awaiting.MODERATION:
                self.state = self.state.awaiting(Awaiting.NOTHING, self.now)
            return [Facilitate(command)]
        if name == "signaler":
            return [Report()]
        if name == "bilan":
            return [ShowRecap()]
        if name == "voter":
            return self.start_voting()
        if name == "aide":
            facilitator = self.snap.is_facilitator()
            return [
                Say(
                    OutboundMessage(help_text(self.catalog, self.language, facilitator=facilitator))
                )
            ]
        if name == "start":
            self.state = replace(self.state, stopped=False)
            return self.start(command.arg)
        if name == "stop":
            self.state = replace(self.state, stopped=True)
            return [self.said("stopped")]
        if name == "reprendre" and self.state.stopped:
            self.state = replace(self.state, stopped=False)
            return self.prompt()
        if name == "oublier":
            self.state = self.state.awaiting(Awaiting.FORGET_CONFIRMATION, self.now)
            return [Say(self.forget_question())]
        if name == "mes_donnees":
            return [SendMyData()]
        if name == "signer":
            return [self.sign(command.arg)]
        if name == "langue":
            return self.set_language(command.arg)
        return None

    def set_language(self, typed: str) -> list[Effect]:
        """/langue: the citizen's language, and their flow's when they are in an open one (a
        language the flow lacks is refused: the bot would speak one, the questions another)."""
        wanted = normalize(typed).casefold()[:2]
        flow = self.open_flow()
        if flow is not None:
            campaign, session, engine = flow
            choices = engine.flow.languages
        else:
            choices = SUPPORTED_LANGUAGES
        if wanted not in choices or wanted not in SUPPORTED_LANGUAGES:
            usage = ", ".join(f"/langue {code}" for code in choices if code in SUPPORTED_LANGUAGES)
            return [self.said("language_usage", languages=usage)]
        self.state = replace(self.state, language=wanted)
        if flow is None:
            return [self.said("language_changed")]
        state, events = engine.change_language(session.state, wanted, self.now)
        return [FlowChanged(campaign, session.id, state, tuple(events))]

    def open_flow(self) -> tuple[Campaign, Session, Engine] | None:
        """The citizen's campaign, session and engine, when the campaign is open and the
        session a live one (not refused)."""
        campaign_id = self.state.active_campaign_id
        if campaign_id is None:
            return None
        campaign = self.snap.campaign(campaign_id)
        session = self.snap.session(campaign_id)
        if (
            campaign is None
            or session is None
            or campaign.status is not CampaignStatus.OPEN
            or session.state.status is Status.REFUSED
        ):
            return None
        return campaign, session, self.snap.engine(campaign)

    def sign(self, typed: str) -> Effect:
        """/signer NAME: one name names one participant; /signer alone: anonymous again."""
        signature = parse_signature(typed)
        if signature is SignatureProblem.EMPTY:
            unsigned = self.say("unsigned", pseudonym=self.snap.pseudonym)
            return SetSignature(None, unsigned, unsigned)
        if isinstance(signature, SignatureProblem):
            return self.said(f"signature_{signature.value}")
        return SetSignature(
            signature,
            self.say("signature_taken", name=signature.text),
            self.say("signed", name=signature.text),
        )

    # -------------------------------------------------------------- questions of ours

    def forget_question(self) -> OutboundMessage:
        t, lang = self.catalog.t, self.language
        return OutboundMessage(
            t(lang, "forget_confirm"),
            buttons=(
                Button(ButtonKind.CHOICE, FORGET_YES, t(lang, FORGET_YES)),
                Button(ButtonKind.CHOICE, FORGET_NO, t(lang, FORGET_NO)),
            ),
        )

    def campaign_question(self, campaigns: list[Campaign]) -> OutboundMessage:
        return OutboundMessage(
            self.catalog.t(self.language, "choose_campaign"),
            buttons=tuple(
                Button(ButtonKind.CHOICE, f"{CAMPAIGN_PREFIX}{c.slug}", c.title) for c in campaigns
            ),
        )

    def pending_question(self) -> list[Effect]:
        """The question a pending action waits on, asked again."""
        if self.state.status is Awaiting.FORGET_CONFIRMATION:
            return [Say(self.forget_question())]
        if self.state.status is Awaiting.CAMPAIGN_CHOICE:
            return [Say(self.campaign_question(self.snap.opened()))]
        if self.state.status is Awaiting.MODERATION:
            return [Facilitate(Command("moderer", "", known=True))]  # its card again
        if self.state.status is Awaiting.VOTE:
            return self.show_card(self.state.cards_shown - 1, again=True)
        if self.state.status is Awaiting.VOTE_MORE:
            return [Say(self.more_question())]
        return []

    def confirm_forget(self, msg: Received) -> list[Effect]:
        answer = msg.choice_id if msg.kind is Kind.CHOICE else None
        if answer is None and msg.command is None:
            typed = normalize(msg.text).casefold()
            yes = {*_YES_WORDS, self.catalog.t(self.language, FORGET_YES).casefold()}
            answer = FORGET_YES if typed in yes else FORGET_NO
        if answer == FORGET_YES:
            return [Erase(), self.said("forget_done")]
        self.state = self.state.awaiting(Awaiting.NOTHING, self.now)
        effects: list[Effect] = [self.said("forget_cancelled")]
        if msg.command is not None:
            effects += self.received(msg)
        return effects

    def choose_campaign(self, msg: Received) -> list[Effect]:
        open_campaigns = self.snap.opened()
        self.state = self.state.awaiting(Awaiting.NOTHING, self.now)
        picked: Campaign | None = None
        if msg.kind is Kind.CHOICE and msg.choice_id:
            slug = msg.choice_id.removeprefix(CAMPAIGN_PREFIX)
            picked = next((c for c in open_campaigns if c.slug == slug), None)
        else:
            typed = normalize(msg.text).casefold()
            for index, campaign in enumerate(open_campaigns, start=1):
                if typed in (str(index), campaign.slug.casefold(), campaign.title.casefold()):
                    picked = campaign
        if picked is None:
            return self.start("")
        return self.enter(picked)

    # -------------------------------------------------------------- voting cards

    def start_voting(self) -> list[Effect]:
        if self.state.active_campaign_id is None:
            return [self.said("vote_no_campaign")]
        campaign = self.snap.campaign(self.state.active_campaign_id)
        if campaign is None or campaign.status is CampaignStatus.DRAFT:
            return [self.said("vote_no_campaign")]
        return self.show_card(0)

    def vote_pressed(self, choice_id: str) -> list[Effect]:
        try:
            _, campaign, item, value = choice_id.split(":", 3)
            return self.vote(int(campaign), int(item), _VOTE_VALUES[value])
        except (ValueError, KeyError):
            return self.on_screen()  # not a card of ours: what is on screen stays

    def vote(self, campaign_id: int, item_id: int, value: Vote) -> list[Effect]:
        """The vote, then the next card when it answered the card on screen (a late press on
        an earlier card changes that vote and moves nothing)."""
        cast = CastVote(campaign_id, item_id, value)
        on_screen = (
            self.state.status is Awaiting.VOTE
            and self.state.card == item_id
            and self.state.active_campaign_id == campaign_id
        )
        if not on_screen:
            return [cast, self.said("vote_noted")]
        if self.state.cards_shown >= SESSION_CARDS:
            if not self.next_cards(campaign_id):
                return [cast, *self.none_left()]
            self.state = self.state.awaiting(Awaiting.VOTE_MORE, self.now)
            return [cast, Say(self.more_question())]
        return [cast, *self.show_card(self.state.cards_shown)]

    def next_cards(self, campaign_id: int) -> list[Card]:
        """The cards still to vote on, the one on screen left out (its vote is being cast)."""
        shown = self.state.card if self.state.status is Awaiting.VOTE else None
        return [card for card in self.snap.deck(campaign_id).next if card.item_id != shown]

    def show_card(self, shown_before: int, *, again: bool = False) -> list[Effect]:
        """The next card of the session (or, ``again``, the one on screen)."""
        campaign_id = self.state.active_campaign_id
        if campaign_id is None:
            self.state = self.state.awaiting(Awaiting.NOTHING, self.now)
            return [self.said("vote_no_campaign")]
        card = self.snap.deck(campaign_id).on_screen if again else None
        if card is None:  # the next one (or the one on screen is no longer public)
            found = self.next_cards(campaign_id)
            card = found[0] if found else None
        if card is None:
            return self.none_left()
        self.state = self.state.showing(card.item_id, shown_before + 1, self.now)
        return [
            Say(self.card_message(campaign_id, card, shown_before + 1)),
            CardShown(card.item_id),
        ]

    def none_left(self) -> list[Effect]:
        self.state = self.state.awaiting(Awaiting.NOTHING, self.now)
        return [self.said("vote_none_left")]

    def card_message(self, campaign_id: int, card: Card, number: int) -> OutboundMessage:
        t, lang = self.catalog.t, self.language

        def button(value: str) -> Button:
            choice = f"{VOTE_PREFIX}{campaign_id}:{card.item_id}:{value}"
            return Button(ButtonKind.CHOICE, choice, t(lang, f"vote_{value}"))

        return OutboundMessage(
            t(lang, "vote_card", number=number, total=SESSION_CARDS, text=quote(card.text)),
            buttons=(button("agree"), button("disagree"), button("pass")),
        )

    def more_question(self) -> OutboundMessage:
        t, lang = self.catalog.t, self.language
        return OutboundMessage(
            t(lang, "vote_more"),
            buttons=(
                Button(ButtonKind.CHOICE, VOTE_MORE_YES, t(lang, VOTE_MORE_YES)),
                Button(ButtonKind.CHOICE, VOTE_MORE_NO, t(lang, VOTE_MORE_NO)),
            ),
        )

    # -------------------------------------------------------------- campaigns

    def start(self, typed: str) -> list[Effect]:
        slug = normalize(typed).lower()
        if slug:
            campaign = self.snap.slug(slug)
            if campaign is None or campaign.status is CampaignStatus.DRAFT:
                return [self.said("unknown_campaign", slug=quote(slug))]
            if campaign.status is not CampaignStatus.OPEN:
                return [self.said("campaign_closed", title=campaign.title)]
            return self.enter(campaign)
        active: Campaign | None = None
        if self.state.active_campaign_id is not None:
            active = self.snap.campaign(self.state.active_campaign_id)
            session = self.snap.session(self.state.active_campaign_id)
            if (
                active is not None
                and active.status is CampaignStatus.OPEN
                and session is not None
                and session.state.status is Status.ACTIVE
            ):
                return self.enter(active)
        open_campaigns = self.snap.opened()
        if not open_campaigns:
            if active is not None and active.status is not CampaignStatus.OPEN:
                return [self.said("campaign_closed", title=active.title)]
            return [self.said("no_campaign")]
        if len(open_campaigns) == 1:
            only = self.snap.session(open_campaigns[0].id)
            if only is not None and only.state.status is Status.COMPLETED:
                # Entering it again would say "finished, /start for another": a loop.
                self.state = replace(
                    self.state.awaiting(Awaiting.NOTHING, self.now),
                    active_campaign_id=open_campaigns[0].id,
                )
                return [self.said("nothing_more_to_answer", title=open_campaigns[0].title)]
            return self.enter(open_campaigns[0])
        self.state = self.state.awaiting(Awaiting.CAMPAIGN_CHOICE, self.now)
        return [Say(self.campaign_question(open_campaigns))]

    def enter(self, campaign: Campaign) -> list[Effect]:
        session = self.snap.session(campaign.id)
        engine = self.snap.engine(campaign)
        self.state = replace(
            self.state.awaiting(Awaiting.NOTHING, self.now), active_campaign_id=campaign.id
        )
        if session is not None and session.state.status is not Status.REFUSED:
            return self.show_again(campaign, session)
        state, events = engine.start(self.language, self.now)
        replaces = session.id if session is not None else None
        return [FlowChanged(campaign, None, state, tuple(events), replaces=replaces)]

    def show_again(self, campaign: Campaign, session: Session) -> list[Effect]:
        welcome: list[Effect] = (
            [self.said("resumed")] if session.state.status is Status.ACTIVE else []
        )
        state, events = self.snap.engine(campaign).show_again(session.state, self.now)
        return [*welcome, FlowChanged(campaign, session.id, state, tuple(events))]

    def prompt(self) -> list[Effect]:
        """Back after /stop: where the citizen was (a new start if nowhere)."""
        campaign_id = self.state.active_campaign_id
        if campaign_id is None:
            return self.start("")
        if self.snap.campaign(campaign_id) is None or self.snap.session(campaign_id) is None:
            return self.start("")
        return self.on_screen()

    # -------------------------------------------------------------- the flow

    def edited(self, edit: Edited) -> list[Effect]:
        campaign = self.snap.campaign(edit.campaign_id)
        session = self.snap.session(edit.campaign_id)
        if campaign is None or session is None or session.id != edit.session_id:
            return []
        # A closed campaign takes no edits; a deletion is the citizen withdrawing their words,
        # a right that outlives the campaign (as /oublier does).
        if campaign.status is not CampaignStatus.OPEN and not edit.deleted:
            return [self.said("campaign_closed", title=campaign.title)]
        inputs: list[Input]
        if edit.deleted:
            inputs = [DeleteItem(seq) for seq in edit.seqs]
        else:
            texts = split_items(normalize(edit.text))
            if len(texts) != len(edit.seqs):  # the edit changed how many bullets there are
                return [self.said("edit_not_applied")]
            inputs = [EditItem(seq, text) for seq, text in zip(edit.seqs, texts, strict=True)]
        engine = self.snap.engine(campaign)
        state = session.state
        events: list[Event] = []
        for inp in inputs:
            state, more = engine.resume(state, inp, self.now)
            events += more
        effects: list[Effect] = [FlowChanged(campaign, session.id, state, tuple(events))]
        if edit.deleted:
            effects.append(EraseTexts(session.id, edit.seqs))
        return effects

    def to_flow(self, msg: Received) -> list[Effect]:
        inp = msg.flow_input()
        campaign_id = self.state.active_campaign_id
        if campaign_id is None:
            if isinstance(inp, CommandInput) and not inp.known:
                return [self.said("unknown_command", command=quote(inp.name))]
            return self.start("")
        campaign = self.snap.campaign(campaign_id)
        session = self.snap.session(campaign_id)
        if campaign is None or session is None:
            return self.start("")
        engine = self.snap.engine(campaign)
        if campaign.status is not CampaignStatus.OPEN:
            return self.closed_campaign(campaign, session, engine, inp)
        state, events = engine.resume(session.state, inp, self.now, arrived_at=msg.arrived_at)
        effects: list[Effect] = [
            FlowChanged(campaign, session.id, state, tuple(events), source=msg.message_id)
        ]
        if (
            state.status is Status.COMPLETED
            and session.state.status is not Status.COMPLETED
            and KINDS.free_text_steps(engine.flow)
        ):
            effects.append(Say(self.vote_offer()))
        return effects

    def vote_offer(self) -> OutboundMessage:
        """Said after the closing message: the others' statements wait for a vote."""
        t, lang = self.catalog.t, self.language
        return OutboundMessage(
            t(lang, "vote_offer"),
            buttons=(Button(ButtonKind.COMMAND, "voter", t(lang, "vote_offer_button")),),
        )

    def closed_campaign(
        self, campaign: Campaign, session: Session, engine: Engine, inp: Input
    ) -> list[Effect]:
        """A closed (or archived) campaign: the answers may be read, not changed; the
        session is left as it is. Rights commands are served before (see command)."""
        if isinstance(inp, CommandInput) and not inp.known:
            return [self.said("unknown_command", command=quote(inp.name))]
        if isinstance(inp, CommandInput) and inp.name == "mes_reponses":
            return [
                *[
                    e
                    for e in engine.review_read_only(session.state, self.language)
                    if isinstance(e, Say)
                ],
                self.said("campaign_closed_review", title=campaign.title),
            ]
        return [self.said("campaign_closed", title=campaign.title)]


def _arrived_before(arrived_at: datetime | None, moment: datetime | None) -> bool:
    """The message was already on its way when ``moment`` came (unknown times: it was not)."""
    return arrived_at is not None and moment is not None and arrived_at < moment
