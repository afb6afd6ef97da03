"""A citizen's position in a flow: serialisable, versioned, and independent of any platform."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from qn_bot.errors import StateVersionError

#: 2 added ``shown_at`` and ``resume_step``; 3 added ``pending_text`` and the two confirming
#: modes. Older states are upgraded when read.
STATE_VERSION = 3

#: A stored answer value: None for free text, a choice id, choice ids, or a number.
AnswerValue = None | str | tuple[str, ...] | int | float


class Status(enum.StrEnum):
    ACTIVE = "active"  # answering questions (or reviewing them)
    COMPLETED = "completed"  # went through the whole flow and confirmed the review
    REFUSED = "refused"  # declined consent: nothing stored


class Mode(enum.StrEnum):
    ASK = "ask"  # waiting for the answer to `step_id`
    REVIEW = "review"  # showing every answer as a list of choices
    ITEM_MENU = "item_menu"  # one list item selected: modify / delete / back
    ITEM_EDIT = "item_edit"  # waiting for the new text of the selected item
    LANGUAGE = "language"  # waiting for a language choice
    CONFIRM_WORD = "confirm_word"  # a list step's `pending_text` is "suivant": move on, or keep it?
    CONFIRM_DELETE = "confirm_delete"  # delete the selected item? (from its menu in the review)


@dataclass(frozen=True, slots=True)
class Item:
    """The latest revision of one answer. List steps have one item per entry."""

    step_id: str
    text: str
    value: AnswerValue = None
    revision: int = 1


@dataclass(frozen=True, slots=True)
class SessionState:
    flow_id: str
    flow_version: int
    language: str
    status: Status = Status.ACTIVE
    mode: Mode = Mode.ASK
    step_id: str | None = None
    history: tuple[str, ...] = ()  # steps asked before the current one, for /retour
    items: dict[int, Item] = field(default_factory=dict)  # seq → item; seq never reused
    next_seq: int = 1
    selected: int | None = None  # seq chosen in review
    review_final: bool = False  # review at the end of the flow (vs /mes_reponses mid-flow)
    reviewed: bool = False  # the end-of-flow review was confirmed
    return_to_review: bool = False  # answering this step goes back to the review
    pending_choices: tuple[str, ...] = ()  # multichoice buttons pressed, not yet confirmed
    example_offsets: dict[str, int] = field(default_factory=dict)
    consent_version: int | None = None
    # When the current question (or review, or item menu) was put before the citizen: a message
    # that arrived earlier cannot answer it. None: not known (a state written before version 2).
    shown_at: datetime | None = None
    # The question a mid-flow review goes back to once an answer edited from it is given.
    resume_step: str | None = None
    # What a confirming mode asks about (CONFIRM_WORD: the word typed alone on a list step).
    pending_text: str | None = None
    version: int = STATE_VERSION

    def evolve(self, **changes: Any) -> SessionState:
        return replace(self, **changes)

    def items_of(self, step_id: str) -> list[tuple[int, Item]]:
        return [(seq, item) for seq, item in sorted(self.items.items()) if item.step_id == step_id]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "flow_id": self.flow_id,
            "flow_version": self.flow_version,
            "language": self.language,
            "status": self.status.value,
            "mode": self.mode.value,
            "step_id": self.step_id,
            "history": list(self.history),
            "items": {
                str(seq): {
                    "step_id": it.step_id,
                    "text": it.text,
                    "value": list(it.value) if isinstance(it.value, tuple) else it.value,
                    "revision": it.revision,
                }
                for seq, it in self.items.items()
            },
            "next_seq": self.next_seq,
            "selected": self.selected,
            "review_final": self.review_final,
            "reviewed": self.reviewed,
            "return_to_review": self.return_to_review,
            "pending_choices": list(self.pending_choices),
            "example_offsets": dict(self.example_offsets),
            "consent_version": self.consent_version,
            "shown_at": None if self.shown_at is None else self.shown_at.isoformat(),
            "resume_step": self.resume_step,
            "pending_text": self.pending_text,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionState:
        data = _upgrade(data)
        version = data.get("version")
        if version != STATE_VERSION:
            raise StateVersionError(f"session state version {version!r}, expected {STATE_VERSION}")
        items: dict[int, Item] = {}
        for seq, raw in data["items"].items():
            value = raw["value"]
            items[int(seq)] = Item(
                step_id=raw["step_id"],
                text=raw["text"],
                value=tuple(value) if isinstance(value, list) else value,
                revision=int(raw["revision"]),
            )
        return cls(
            version=version,
            flow_id=data["flow_id"],
            flow_version=int(data["flow_version"]),
            language=data["language"],
            status=Status(data["status"]),
            mode=Mode(data["mode"]),
            step_id=data["step_id"],
            history=tuple(data["history"]),
            items=items,
            next_seq=int(data["next_seq"]),
            selected=data["selected"],
            review_final=bool(data["review_final"]),
            reviewed=bool(data["reviewed"]),
            return_to_review=bool(data["return_to_review"]),
            pending_choices=tuple(data["pending_choices"]),
            example_offsets={str(k): int(v) for k, v in data["example_offsets"].items()},
            consent_version=data["consent_version"],
            shown_at=None if data["shown_at"] is None else datetime.fromisoformat(data["shown_at"]),
            resume_step=data["resume_step"],
            pending_text=data["pending_text"],
        )


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Older states, as sessions already stored have them, in the current shape."""
    if data.get("version") == 1:
        # Nothing was known of what was on screen: no message will count as early.
        data = {**data, "version": 2, "shown_at": None, "resume_step": None}
        if data["return_to_review"] and not data["review_final"] and data["status"] == "active":
            # An answer edited from a mid-flow review: version 1 pushed the question to come
            # back to onto the history.
            history = list(data["history"])
            if history:
                data["resume_step"] = history.pop()
                data["history"] = history
    if data.get("version") == 2:
        # Nothing was being confirmed: version 2 had no confirming mode.
        data = {**data, "version": 3, "pending_text": None}
    return data
