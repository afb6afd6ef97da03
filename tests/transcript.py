"""Golden transcripts: run inputs through the pure engine, reloading the state between steps."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from qn_bot.commands import parse_command
from qn_bot.domain import ButtonKind
from qn_bot.flows.engine import ChoiceInput, CommandInput, Engine, Input, TextInput
from qn_bot.flows.events import Event, ItemAdded, ItemDeleted, ItemRevised, ItemWithdrawn, Say
from qn_bot.flows.format import Flow
from qn_bot.flows.state import Mode, SessionState

GOLDEN_DIR = Path(__file__).parent / "golden"
NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def to_input(line: str) -> Input:
    """`/cmd arg` is a command, `#choice_id` a button press, anything else typed text."""
    if line.startswith("#"):
        return ChoiceInput(line[1:])
    command = parse_command(line)
    if command is not None:
        return CommandInput(command.name, command.arg, command.known)
    return TextInput(line)


def render(events: list[Event]) -> list[str]:
    lines: list[str] = []
    for event in events:
        if isinstance(event, Say):
            lines.extend(event.message.text.splitlines() or [""])
            for button in event.message.buttons:
                marker = "[#" if button.kind is ButtonKind.CHOICE else "[/"
                lines.append(f"  {marker}{button.value}] {button.label}")
        else:
            lines.append(f"  ({type(event).__name__}: {_describe(event)})")
    return lines


def _describe(event: Event) -> str:
    if isinstance(event, ItemAdded):
        return f"{event.seq} {event.step_id} {event.text!r}"
    if isinstance(event, ItemRevised):
        return f"{event.seq} r{event.revision} {event.text!r}"
    if isinstance(event, ItemDeleted):
        return str(event.seq)
    if isinstance(event, ItemWithdrawn):
        return f"{event.seq} {event.step_id}"
    return ""


def check_conditions(engine: Engine, state: SessionState) -> None:
    """The flow's conditions hold: no live item, and no question asked, belongs to a step whose
    `when` is false."""
    values = engine.values(state)
    for seq, item in state.items.items():
        when = engine.flow.step(item.step_id).when
        assert when is None or when.evaluate(values), f"item {seq} of {item.step_id} is live"
    if state.mode is Mode.ASK and state.step_id is not None:
        when = engine.flow.step(state.step_id).when
        assert when is None or when.evaluate(values), f"{state.step_id} asked"


@dataclass
class Run:
    engine: Engine
    state: SessionState
    transcript: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @classmethod
    def start(cls, flow: Flow, engine: Engine, language: str = "fr") -> Run:
        state, events = engine.start(language, NOW)
        run = cls(engine, state)
        run._record("(start)", events)
        return run

    def send(self, line: str) -> list[Event]:
        # Serialise and reload between steps: a session must survive any restart.
        reloaded = SessionState.from_json(json.loads(json.dumps(self.state.to_json())))
        assert reloaded == self.state
        inp = to_input(line)
        if isinstance(inp, CommandInput) and inp.name == "langue":
            # Decided by the participant machine (qn_bot.conversation); the engine re-shows.
            self.state, events = self.engine.change_language(reloaded, inp.arg, NOW)
        else:
            self.state, events = self.engine.resume(reloaded, inp, NOW)
        check_conditions(self.engine, self.state)
        self._record(line, events)
        return events

    def _record(self, line: str, events: list[Event]) -> None:
        self.events.extend(events)
        self.transcript.append(f"> {line}")
        self.transcript.extend(render(events))

    def text(self) -> str:
        return "\n".join(self.transcript) + "\n"


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME.txt; UPDATE_GOLDEN=1 rewrites it (review the diff!)."""
    path = GOLDEN_DIR / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(text, encoding="utf-8")
        if os.environ.get("UPDATE_GOLDEN") != "1":
            raise AssertionError(f"golden file {path} was missing and has been written: review it")
    assert text == path.read_text(encoding="utf-8")
