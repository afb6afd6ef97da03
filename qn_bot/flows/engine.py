"""The flow engine: ``resume(state, input, now) → (new state, events)``.

Pure: no I/O, no awaits, no clock or randomness of its own, no platform types. The host
persists the events and the new state in one transaction, then sends the replies.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from qn_bot.domain import Button, ButtonKind, OutboundMessage
from qn_bot.flows.events import (
    Completed,
    Event,
    ItemAdded,
    ItemDeleted,
    ItemRevised,
    ItemWithdrawn,
    LanguageChanged,
    Say,
)
from qn_bot.flows.expr import Value
from qn_bot.flows.format import Flow, Localized, Step
from qn_bot.flows.kinds import KINDS, fold
from qn_bot.flows.kinds.base import NO_WORDS, YES_WORDS
from qn_bot.flows.kinds.list import WORD_KEEP, WORD_NEXT, ListKind
from qn_bot.flows.kinds.number import fmt as _fmt
from qn_bot.flows.state import AnswerValue, Item, Mode, SessionState, Status
from qn_bot.i18n import Catalog
from qn_bot.offering import by_number, listed_label
from qn_bot.text import is_blank, normalize, quote


@dataclass(frozen=True, slots=True)
class TextInput:
    text: str


@dataclass(frozen=True, slots=True)
class ChoiceInput:
    choice_id: str


@dataclass(frozen=True, slots=True)
class CommandInput:
    name: str  # canonical French name (see qn_bot.commands)
    arg: str = ""
    known: bool = True


@dataclass(frozen=True, slots=True)
class EditItem:
    """The citizen edited, on the platform, the message that gave this item."""

    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class DeleteItem:
    """The citizen deleted (redacted), on the platform, the message that gave this item."""

    seq: int


Input = TextInput | ChoiceInput | CommandInput | EditItem | DeleteItem

EXAMPLES_PER_PAGE = 5
_DONE = "done"
_ITEM_PREFIX = "item:"
_MENU_EDIT, _MENU_DELETE, _MENU_BACK = "edit", "delete", "back"
_DELETE_YES, _DELETE_NO = "delete_yes", "delete_no"
#: Typed in the review, the « Valider » button's word (its label says more: « Valider et
#: terminer »).
_SUBMIT_WORDS = frozenset({"valider", "terminer", "envoyer", "validate", "submit", "finish"})
#: Commands that settle the question on screen, as an answer does.
_ANSWERING_COMMANDS = frozenset({"suivant", "passer"})
_ITEM_EVENTS = (ItemAdded, ItemRevised, ItemDeleted)


#: The list kind's word confirmation (« suivant » typed alone) is the engine's to route.
_LIST = ListKind()

#: Kinds match typed labels with it too (qn_bot.flows.kinds.base).
_fold = fold


class Engine:
    """Runs one flow. Holds only immutable configuration, so one instance serves every session."""

    def __init__(self, flow: Flow, catalog: Catalog) -> None:
        self.flow = flow
        self.catalog = catalog

    # ------------------------------------------------------------------ public API

    def start(self, language: str, now: datetime) -> tuple[SessionState, list[Event]]:
        """A new session: shows the opening info steps and asks the first question."""
        if language not in self.flow.languages:
            language = self.flow.default_language
        state = SessionState(self.flow.id, self.flow.version, language)
        out: list[Event] = []
        state = self._enter_next(state, out, after=-1)
        return state.evolve(shown_at=now), out

    def prompt(self, state: SessionState) -> list[Event]:
        """What to show a citizen who comes back (/reprendre, a restarted chat)."""
        out: list[Event] = []
        self._show_current(state, out)
        return out

    def show_again(self, state: SessionState, now: datetime) -> tuple[SessionState, list[Event]]:
        """The screen put before the citizen anew (back in this campaign after another, or in
        another chat): what arrived before ``now`` was meant for something else."""
        return state.evolve(shown_at=now), self.prompt(state)

    def resume(
        self,
        state: SessionState,
        inp: Input,
        now: datetime,
        *,
        arrived_at: datetime | None = None,
    ) -> tuple[SessionState, list[Event]]:
        """``arrived_at``: when the message reached the host (None: unknown, taken as ``now``).
        A message that arrived before the question on screen was shown does not answer it."""
        out: list[Event] = []
        new = self._resume(state, inp, out, arrived_at)
        if any(isinstance(event, _ITEM_EVENTS) for event in out):
            new = self.withdraw_inapplicable(new, out)
        if _screen(new) != _screen(state):
            new = new.evolve(shown_at=now)
        return new, out

    def _resume(
        self,
        state: SessionState,
        inp: Input,
        out: list[Event],
        arrived_at: datetime | None,
    ) -> SessionState:
        if state.status is Status.REFUSED:
            self.say(out, state, "refused_reminder")
            return state
        if isinstance(inp, EditItem | DeleteItem):
            return self._external_change(state, inp, out)
        if self._arrived_before_screen(state, inp, arrived_at):
            self.say(out, state, "not_on_screen")
            self._show_current(state, out)
            return state
        if isinstance(inp, CommandInput):
            return self._command(state, inp, out)
        if state.status is Status.COMPLETED and state.mode is Mode.ASK:
            self.say(out, state, "already_completed")
            return state
        if isinstance(inp, TextInput):
            text = normalize(inp.text)
            if is_blank(text):
                self.say(out, state, "empty_message")
                return state
            return self._text(state, text, out)
        return self.choice(state, inp.choice_id, out)

    @staticmethod
    def _arrived_before_screen(
        state: SessionState, inp: Input, arrived_at: datetime | None
    ) -> bool:
        """An answer (typed, pressed, or /suivant and /passer) that was on its way before what
        is on screen appeared — a burst read in one poll, a replay after a crash — answers
        something the citizen had not seen. Other commands work whenever they come."""
        if arrived_at is None or state.shown_at is None:
            return False
        if isinstance(inp, CommandInput):
            answers = inp.known and inp.name in _ANSWERING_COMMANDS
        else:
            answers = isinstance(inp, TextInput | ChoiceInput)
        return answers and arrived_at < state.shown_at

    def review_read_only(self, state: SessionState, language: str) -> list[Event]:
        """The citizen's answers as text, with nothing to pick (a closed campaign's review)."""
        if language not in self.flow.languages:
            language = state.language
        out: list[Event] = []
        self.say(out, state, None, text=self._review_text(state.evolve(language=language), False))
        return out

    def values(self, state: SessionState) -> dict[str, Value]:
        """Each step's answer as `when` conditions see it; unanswered steps are absent (None)."""
        return self._values(_by_step(state))

    def _values(self, grouped: Mapping[str, list[Item]]) -> dict[str, Value]:
        steps = self._steps
        return {
            step_id: KINDS.of(steps[step_id]).value(items)
            for step_id, items in grouped.items()
            if step_id in steps
        }

    @functools.cached_property
    def _steps(self) -> dict[str, Step]:
        return {step.id: step for step in self.flow.steps}

    @functools.cached_property
    def _parts(self) -> dict[str, Localized | None]:
        """Each step's part: the last one declared at or before it (a part's heading is
        written on its first step, and runs until the next part)."""
        parts: dict[str, Localized | None] = {}
        current: Localized | None = None
        for step in self.flow.steps:
            if step.part is not None:
                current = step.part
            parts[step.id] = current
        return parts

    def _part_of(self, step_id: str | None) -> Localized | None:
        return None if step_id is None else self._parts.get(step_id)

    def _place(self, step: Step, state: SessionState) -> tuple[int, int] | None:
        """Where ``step`` stands among the questions this citizen is asked, as things are
        now (an answer that changes which steps apply changes the count): info and consent
        steps are not questions to them."""
        values = self.values(state)
        asked = [
            s.id
            for s in self.flow.steps
            if KINDS.of(s).is_question and not KINDS.of(s).asks_consent and _holds(s, values)
        ]
        if step.id not in asked:
            return None
        return asked.index(step.id) + 1, len(asked)

    @functools.cached_property
    def _conditional(self) -> tuple[Step, ...]:
        """The steps asked only when their `when` holds: the only ones an answer can withdraw."""
        return tuple(step for step in self.flow.steps if step.when is not None)

    # ------------------------------------------------------------------ navigation

    def _applies(self, step: Step, state: SessionState) -> bool:
        return _holds(step, self.values(state))

    def _enter_next(self, state: SessionState, out: list[Event], after: int) -> SessionState:
        closing = self._last_question_index()
        for index, step in enumerate(self.flow.steps[after + 1 :], start=after + 1):
            if index > closing:
                break  # closing info steps come after the review, from _complete
            if not self._applies(step, state):
                continue
            if not KINDS.of(step).is_question:
                self.say(out, state, None, text=self._text_of(step, state))
                continue
            history = state.history
            if state.step_id is not None and state.step_id != step.id:
                history = (*history, state.step_id)
            new_part = self._part_of(step.id) is not self._part_of(state.step_id)
            state = state.evolve(
                step_id=step.id, mode=Mode.ASK, history=history, pending_choices=()
            )
            self.ask(step, state, out, heading=new_part)
            return state
        if state.reviewed or not any(KINDS.of(s).is_question for s in self.flow.steps):
            return self._complete(state, out)
        history = state.history if state.step_id is None else (*state.history, state.step_id)
        state = state.evolve(step_id=None, review_final=True, history=history, pending_choices=())
        return self._review(state, out)

    def advance(self, state: SessionState, out: list[Event]) -> SessionState:
        """Leave the current step: back to the review if it sent us here, else onwards."""
        if state.return_to_review:
            answered = state.items_of(state.step_id) if state.step_id is not None else []
            withdrew = any(isinstance(event, ItemWithdrawn) for event in out)
            changed = answered[0][0] if len(answered) == 1 and not withdrew else None
            return self._review(self._leave_edit(state), out, changed=changed)
        assert state.step_id is not None
        return self._enter_next(state, out, after=self.flow.index(state.step_id))

    def _leave_edit(self, state: SessionState, *, passed: bool = True) -> SessionState:
        """Done with a question asked from the review (answered, skipped or left): it counts as
        passed, and the review takes its place in the flow back."""
        if passed:
            state = self._passed(state)
        step_id = state.resume_step
        if step_id is None and not (state.review_final or state.status is Status.COMPLETED):
            step_id = state.step_id  # nowhere recorded to go back to: stay
        return state.evolve(
            step_id=step_id, return_to_review=False, resume_step=None, pending_choices=()
        )

    def _passed(self, state: SessionState) -> SessionState:
        """The history with the current step in it, kept in the flow's order (/retour's way)."""
        step_id = state.step_id
        if step_id is None or step_id in state.history:
            return state
        index = self.flow.index(step_id)
        order = {s.id: i for i, s in enumerate(self.flow.steps)}
        history = list(state.history)
        at = next((n for n, h in enumerate(history) if order.get(h, -1) > index), len(history))
        history.insert(at, step_id)
        return state.evolve(history=tuple(history))

    def _review(
        self, state: SessionState, out: list[Event], *, changed: int | None = None
    ) -> SessionState:
        """Show the review — unless a question became applicable behind the citizen (an answer
        changed): that question is asked first, and the review comes after it. ``changed``:
        the item just edited, reprinted alone (-1: nothing changed, no list again)."""
        state = state.evolve(mode=Mode.REVIEW, selected=None, pending_choices=())
        pending = self._pending_step(state)
        if pending is not None:
            state = state.evolve(
                mode=Mode.ASK, step_id=pending.id, return_to_review=True, resume_step=state.step_id
            )
            self.ask(pending, state, out)
            return state
        self._show_review(state, out, changed=changed)
        return state

    def _pending_step(self, state: SessionState) -> Step | None:
        """The first question before where the citizen stands (``step_id``; None: the end of
        the flow) that applies but was never passed: its condition became true afterwards."""
        frontier = len(self.flow.steps) if state.step_id is None else self.flow.index(state.step_id)
        for step in self.flow.steps[:frontier]:
            kind = KINDS.of(step)
            if (
                kind.is_question
                and kind.revisitable
                and step.id not in state.history
                and self._applies(step, state)
            ):
                return step
        return None

    def withdraw_inapplicable(self, state: SessionState, out: list[Event]) -> SessionState:
        """Keep the flow's conditions true after an answer changed: the items of steps whose
        `when` no longer holds are withdrawn, and those steps leave the history, so that they
        are asked afresh should their condition hold again. Withdrawing may falsify further
        conditions: repeated until nothing changes."""
        # Runs after every answer: one pass over the items, and only the conditional steps
        # that were asked or hold items are evaluated (it was 40 sorts of the items and every
        # condition per answer: a third of the engine's time on a long flow).
        while True:
            grouped = _by_step(state)
            candidates = [
                step for step in self._conditional if step.id in grouped or step.id in state.history
            ]
            if not candidates:
                return state
            values = self._values(grouped)
            gone = {step.id for step in candidates if not _holds(step, values)}
            if not gone:
                return state
            for seq, item in sorted(state.items.items()):
                if item.step_id in gone:
                    out.append(ItemWithdrawn(seq, item.step_id))
            state = state.evolve(
                items={seq: it for seq, it in state.items.items() if it.step_id not in gone},
                history=tuple(h for h in state.history if h not in gone),
            )

    def _on_an_applicable_step(self, state: SessionState, out: list[Event]) -> SessionState:
        """The question on screen may no longer apply (an answer it depends on changed): go
        back to the review if it was asked from there, else on to the next one that applies."""
        step_id = state.step_id
        if state.mode is not Mode.ASK or step_id is None:
            return state
        if self._applies(self.flow.step(step_id), state):
            return state
        if state.return_to_review:
            return self._review(self._leave_edit(state, passed=False), out)
        return self._enter_next(state.evolve(step_id=None), out, after=self.flow.index(step_id))

    def _last_question_index(self) -> int:
        return max(
            (i for i, s in enumerate(self.flow.steps) if KINDS.of(s).is_question), default=-1
        )

    def _complete(self, state: SessionState, out: list[Event]) -> SessionState:
        closing = [
            step
            for step in self.flow.steps[self._last_question_index() + 1 :]
            if not KINDS.of(step).is_question and self._applies(step, state)
        ]
        for step in closing:
            self.say(out, state, None, text=self._text_of(step, state))
        state = state.evolve(
            status=Status.COMPLETED, mode=Mode.ASK, step_id=None, review_final=False, reviewed=True
        )
        # The flow's own closing words thank the citizen: the bot's would be a second thank-you.
        self.say(out, state, "completed_after_closing" if closing else "completed")
        out.append(Completed())
        return state

    def _show_current(self, state: SessionState, out: list[Event]) -> None:
        if state.status is Status.REFUSED:
            self.say(out, state, "refused_reminder")
        elif state.status is Status.COMPLETED and state.mode is not Mode.REVIEW:
            self.say(out, state, "already_completed")
        elif state.mode is Mode.REVIEW:
            self._show_review(state, out)
        elif state.mode is Mode.ITEM_MENU:
            self._show_item_menu(state, out)
        elif state.mode is Mode.CONFIRM_DELETE:
            self._show_delete_confirm(state, out)
        elif state.mode is Mode.ITEM_EDIT:
            self._show_item_edit(state, out)
        elif state.mode is Mode.CONFIRM_WORD:
            _LIST.confirm_word(self, state, out)
        elif state.step_id is not None:
            self.ask(self.flow.step(state.step_id), state, out)

    # ------------------------------------------------------------------ commands

    def _command(self, state: SessionState, cmd: CommandInput, out: list[Event]) -> SessionState:
        name = cmd.name
        if state.mode is Mode.CONFIRM_WORD and name not in ("reprendre", "exemple"):
            state = state.evolve(mode=Mode.ASK, pending_text=None)  # a command answers it
        if not cmd.known:
            self.say(out, state, "unknown_command", command=quote(name))
            return state
        if name == "mes_reponses":
            if state.mode is Mode.REVIEW:
                self._show_review(state, out)
                return state
            if state.return_to_review:
                state = self._leave_edit(state)
            return self._review(state, out)
        if name == "reprendre":
            self._show_current(state, out)
            return state
        if state.status is Status.COMPLETED and state.mode is not Mode.REVIEW:
            self.say(out, state, "already_completed")
            return state
        if state.mode in (Mode.REVIEW, Mode.ITEM_MENU, Mode.ITEM_EDIT, Mode.CONFIRM_DELETE):
            return self._review_command(state, name, out)
        assert state.step_id is not None
        step = self.flow.step(state.step_id)
        if name == "exemple":
            return self._examples(step, state, out)
        if name == "retour":
            return self._back(state, out)
        if name == "suivant":
            return self._next(step, state, out)
        if name == "passer":
            if not KINDS.of(step).skippable(step):
                self.say(out, state, "cannot_skip")
                return state
            return self.advance(state.evolve(pending_choices=()), out)
        self.say(out, state, "command_not_here", command=name)
        return state

    def _next(self, step: Step, state: SessionState, out: list[Event]) -> SessionState:
        return KINDS.of(step).on_next(self, step, state, out)

    def _back(self, state: SessionState, out: list[Event]) -> SessionState:
        if state.return_to_review:
            return self.advance(state, out)
        history = list(state.history)
        while history:
            previous = self.flow.step(history.pop())
            if not KINDS.of(previous).revisitable:
                continue  # consent cannot be revisited: /oublier is the way out
            if not self._applies(previous, state):
                continue
            state = state.evolve(
                step_id=previous.id, mode=Mode.ASK, history=tuple(history), pending_choices=()
            )
            self.ask(previous, state, out)
            return state
        self.say(out, state, "no_previous_step")
        return state

    def _examples(self, step: Step, state: SessionState, out: list[Event]) -> SessionState:
        examples = step.examples.get(state.language, ())
        if not examples:
            self.say(out, state, "no_examples")
            return state
        offset = state.example_offsets.get(step.id, 0) % len(examples)
        shown = [
            examples[(offset + i) % len(examples)]
            for i in range(min(EXAMPLES_PER_PAGE, len(examples)))
        ]
        body = "\n".join(f"• {example}" for example in shown)
        more = "examples_more" if len(examples) > EXAMPLES_PER_PAGE else "examples_all"
        text = (
            self.catalog.t(state.language, "examples_header")
            + "\n"
            + body
            + "\n"
            + self.catalog.t(state.language, more)
        )
        self.say(out, state, None, text=text)
        offsets = dict(state.example_offsets)
        offsets[step.id] = offset + len(shown)
        return state.evolve(example_offsets=offsets)

    def change_language(
        self, state: SessionState, language: str, now: datetime
    ) -> tuple[SessionState, list[Event]]:
        """The citizen now speaks ``language``, one of the flow's (/langue is decided in
        qn_bot.conversation): said in it, and the screen shown again in it."""
        assert language in self.flow.languages
        out: list[Event] = []
        new = state.evolve(language=language)
        out.append(LanguageChanged(language))
        self.say(out, new, "language_changed")
        self._show_current(new, out)
        if _screen(new) != _screen(state):
            new = new.evolve(shown_at=now)
        return new, out

    # ------------------------------------------------------------------ answers

    def _text(self, state: SessionState, text: str, out: list[Event]) -> SessionState:
        if state.mode is Mode.ITEM_EDIT:
            return self._edit_item(state, text, out)
        if state.mode is Mode.CONFIRM_DELETE:
            answer = _yes_or_no(text)
            if answer is not None:
                choice_id = f"{_DELETE_YES}:{state.selected}" if answer else _DELETE_NO
                return self.choice(state, choice_id, out)
        if state.mode is Mode.REVIEW and fold(text).strip(" .!") in _SUBMIT_WORDS:
            return self.choice(state, _DONE, out)
        if state.mode in (Mode.REVIEW, Mode.ITEM_MENU, Mode.CONFIRM_DELETE):
            choice = self.match(self._mode_buttons(state), text)
            if choice is None:
                self.say(out, state, "pick_a_choice")
                self._show_current(state, out)
                return state
            return self.choice(state, choice, out)
        assert state.step_id is not None
        step = self.flow.step(state.step_id)
        if state.mode is Mode.CONFIRM_WORD:
            choice = self.match(self._confirm_buttons(state), text)
            if choice is not None:
                return _LIST.on_confirm(self, step, state, choice, out)
            state = state.evolve(mode=Mode.ASK, pending_text=None)  # an idea like any other
        return KINDS.of(step).on_text(self, step, state, text, out)

    def _confirm_buttons(self, state: SessionState) -> tuple[Button, ...]:
        out: list[Event] = []
        _LIST.confirm_word(self, state, out)
        said = out[0]
        assert isinstance(said, Say)
        return said.message.buttons

    def choice(self, state: SessionState, choice_id: str, out: list[Event]) -> SessionState:
        if state.mode in (Mode.REVIEW, Mode.ITEM_MENU, Mode.ITEM_EDIT, Mode.CONFIRM_DELETE):
            return self._review_choice(state, choice_id, out)
        assert state.step_id is not None
        step = self.flow.step(state.step_id)
        if state.mode is Mode.CONFIRM_WORD:
            if choice_id in (WORD_NEXT, WORD_KEEP):
                return _LIST.on_confirm(self, step, state, choice_id, out)
            self.say(out, state, "stale_button")
            _LIST.confirm_word(self, state, out)
            return state
        valid = {b.value for b in self._step_buttons(step, state) if b.kind is ButtonKind.CHOICE}
        if choice_id not in valid:
            self.say(out, state, "stale_button")
            self.ask(step, state, out)
            return state
        return KINDS.of(step).on_choice(self, step, state, choice_id, out)

    def store_single(
        self,
        step: Step,
        state: SessionState,
        value: AnswerValue,
        out: list[Event],
        text: str | None = None,
    ) -> SessionState:
        """Record the answer of a one-answer step: a new item, or a new revision of it."""
        if text is None:
            if isinstance(value, tuple):
                text = ", ".join(self.choice_label(step, cid, state, default=True) for cid in value)
            elif isinstance(value, str):
                text = self.choice_label(step, value, state, default=True)
            else:
                text = _fmt(value)
        existing = state.items_of(step.id)
        items = dict(state.items)
        if existing:
            seq, item = existing[0]
            if (item.text, item.value) != (text, value):
                items[seq] = Item(step.id, text, value, item.revision + 1)
                out.append(ItemRevised(seq, item.revision + 1, text, value))
            state = state.evolve(items=items, pending_choices=())
        else:
            seq = state.next_seq
            items[seq] = Item(step.id, text, value)
            out.append(ItemAdded(seq, step.id, text, value))
            state = state.evolve(items=items, next_seq=seq + 1, pending_choices=())
        state = self.withdraw_inapplicable(state, out)
        self.say(out, state, "answer_noted")
        return self.advance(state, out)

    # ------------------------------------------------------------------ review

    def _review_entries(self, state: SessionState) -> Iterator[tuple[int, Item, Step]]:
        order = {s.id: i for i, s in enumerate(self.flow.steps)}
        for seq, item in sorted(
            state.items.items(), key=lambda kv: (order.get(kv[1].step_id, 0), kv[0])
        ):
            if item.step_id in order:
                yield seq, item, self.flow.step(item.step_id)

    def _heading(self, step: Step, language: str) -> str:
        return (step.section or step.prompt).get(language)

    def _show_review(
        self, state: SessionState, out: list[Event], *, changed: int | None = None
    ) -> None:
        """The review: the whole list, or — ``changed``, an item just edited — that item's line
        alone, then what can be done next (the list above it is unchanged)."""
        if changed is None or not state.items:
            text = self._review_text(state, True)
        elif changed in state.items:
            text = self._review_line(state, changed) + "\n\n" + self._review_pick(state)
        else:
            text = self._review_pick(state)
        self.say(out, state, None, text=text, buttons=self._mode_buttons(state))

    def _review_line(self, state: SessionState, seq: int) -> str:
        number = next(n for n, (s, _, _) in enumerate(self._review_entries(state), 1) if s == seq)
        return f"{number}. {state.items[seq].text}"

    def _review_pick(self, state: SessionState) -> str:
        done = self.catalog.t(
            state.language, "review_done_final" if state.review_final else "review_done"
        )
        return self.catalog.t(state.language, "review_pick_number", done=_fold_label(done))

    def _review_text(self, state: SessionState, pick: bool) -> str:
        """One numbered list, each section's title on a line of its own above its answers (a
        long title wraps; it never crowds an answer out)."""
        lines: list[str] = []
        heading = None
        for number, (_, item, step) in enumerate(self._review_entries(state), start=1):
            title = self._heading(step, state.language)
            if title != heading:
                lines += ["", title]
                heading = title
            lines.append(f"{number}. {item.text}")
        if not lines:
            return self.catalog.t(state.language, "review_empty")
        text = self.catalog.t(state.language, "review_intro") + "\n" + "\n".join(lines)
        if pick:
            text += "\n\n" + self._review_pick(state)
        return text

    def _mode_buttons(self, state: SessionState) -> tuple[Button, ...]:
        t = self.catalog.t
        if state.mode is Mode.ITEM_MENU:
            # The item's seq in the values: a menu left on screen for another item acts on
            # nothing when pressed later.
            return (
                Button(
                    ButtonKind.CHOICE,
                    f"{_MENU_EDIT}:{state.selected}",
                    t(state.language, "menu_edit"),
                ),
                Button(
                    ButtonKind.CHOICE,
                    f"{_MENU_DELETE}:{state.selected}",
                    t(state.language, "menu_delete"),
                ),
                Button(ButtonKind.CHOICE, _MENU_BACK, t(state.language, "menu_back")),
            )
        if state.mode is Mode.CONFIRM_DELETE:
            return (
                Button(
                    ButtonKind.CHOICE,
                    f"{_DELETE_YES}:{state.selected}",
                    t(state.language, "delete_yes"),
                ),
                Button(ButtonKind.CHOICE, _DELETE_NO, t(state.language, "delete_no")),
            )
        # The text lists the answers, numbered: a button names the number only (platforms
        # without buttons leave such options out, qn_bot.offering).
        buttons = [
            Button(ButtonKind.CHOICE, f"{_ITEM_PREFIX}{seq}", listed_label(number))
            for number, (seq, _, _) in enumerate(self._review_entries(state), start=1)
        ]
        done_key = "review_done_final" if state.review_final else "review_done"
        buttons.append(Button(ButtonKind.CHOICE, _DONE, t(state.language, done_key)))
        return tuple(buttons)

    def _review_command(self, state: SessionState, name: str, out: list[Event]) -> SessionState:
        if state.mode is Mode.ITEM_EDIT and name in ("retour", "passer"):
            state = state.evolve(mode=Mode.ITEM_MENU)
            self._show_item_menu(state, out)
            return state
        if state.mode in (Mode.ITEM_MENU, Mode.CONFIRM_DELETE) and name in ("retour", "passer"):
            return self._back_to_review(state, out)
        if name == "suivant" and state.review_final:
            # Sending the answers is said in so many words: « Valider ».
            state = state.evolve(mode=Mode.REVIEW, selected=None)
            self.say(out, state, "review_submit_explicit", done=self._review_done_label(state))
            self._show_review(state, out, changed=-1)
            return state
        if name == "suivant":
            return self._review_choice(state.evolve(mode=Mode.REVIEW), _DONE, out)
        if name == "retour" and state.review_final:
            return self._back(state.evolve(review_final=False), out)
        if name == "retour":
            return self._review_choice(state, _DONE, out)
        self.say(out, state, "command_not_here", command=name)
        return state

    def _review_choice(self, state: SessionState, choice_id: str, out: list[Event]) -> SessionState:
        if state.mode is Mode.ITEM_EDIT:
            self.say(out, state, "stale_button")
            self._show_item_edit(state, out)
            return state
        if state.mode is Mode.ITEM_MENU:
            if choice_id == f"{_MENU_EDIT}:{state.selected}":
                state = state.evolve(mode=Mode.ITEM_EDIT)
                self._show_item_edit(state, out)
                return state
            if choice_id == f"{_MENU_DELETE}:{state.selected}" and state.selected in state.items:
                state = state.evolve(mode=Mode.CONFIRM_DELETE)
                self._show_delete_confirm(state, out)
                return state
            if choice_id == _MENU_BACK:
                return self._back_to_review(state, out)
            self.say(out, state, "stale_button")
            self._show_item_menu(state, out)
            return state
        if state.mode is Mode.CONFIRM_DELETE:
            if choice_id == f"{_DELETE_YES}:{state.selected}" and state.selected in state.items:
                items = dict(state.items)
                del items[state.selected]
                out.append(ItemDeleted(state.selected))
                state = self.withdraw_inapplicable(state.evolve(items=items), out)
                self.say(out, state, "item_deleted")
                return self._back_to_review(state, out)
            if choice_id == _DELETE_NO:
                self.say(out, state, "delete_cancelled")
                return self._back_to_review(state, out, changed=-1)
            self.say(out, state, "stale_button")
            self._show_delete_confirm(state, out)
            return state
        if choice_id == _DONE:
            if self._pending_step(state) is not None:  # e.g. after a platform edit meanwhile
                return self._review(state, out)
            if state.review_final:
                return self._complete(state.evolve(reviewed=True), out)
            if state.status is Status.COMPLETED:
                state = state.evolve(mode=Mode.ASK, selected=None)
                self.say(out, state, "review_closed")
                return state
            state = state.evolve(mode=Mode.ASK, selected=None)
            moved = self._on_an_applicable_step(state, out)
            if moved is state:
                self._show_current(state, out)
            return moved
        if choice_id.startswith(_ITEM_PREFIX):
            seq_text = choice_id.removeprefix(_ITEM_PREFIX)
            seq = int(seq_text) if seq_text.isdigit() else -1
            item = state.items.get(seq)
            if item is not None:
                step = self.flow.step(item.step_id)
                if KINDS.of(step).free_text:
                    state = state.evolve(mode=Mode.ITEM_MENU, selected=seq)
                    self._show_item_menu(state, out)
                    return state
                # One-answer steps are asked again, then we come back here (and, mid-flow,
                # to the question the review was opened from).
                state = state.evolve(
                    mode=Mode.ASK,
                    step_id=step.id,
                    return_to_review=True,
                    resume_step=None if state.review_final else state.step_id,
                    selected=None,
                )
                self.ask(step, state, out)
                return state
        self.say(out, state, "stale_button")
        self._show_review(state, out)
        return state

    def _back_to_review(
        self, state: SessionState, out: list[Event], *, changed: int | None = None
    ) -> SessionState:
        return self._review(state, out, changed=changed)

    def _show_delete_confirm(self, state: SessionState, out: list[Event]) -> None:
        item = state.items.get(state.selected) if state.selected is not None else None
        if item is None:
            self._show_review(state.evolve(mode=Mode.REVIEW), out)
            return
        self.say(out, state, "delete_confirm", item=item.text, buttons=self._mode_buttons(state))

    def _review_done_label(self, state: SessionState) -> str:
        key = "review_done_final" if state.review_final else "review_done"
        return _fold_label(self.catalog.t(state.language, key))

    def _show_item_menu(self, state: SessionState, out: list[Event]) -> None:
        item = state.items.get(state.selected) if state.selected is not None else None
        if item is None:
            self._show_review(state.evolve(mode=Mode.REVIEW), out)
            return
        self.say(out, state, "item_menu", item=item.text, buttons=self._mode_buttons(state))

    def _show_item_edit(self, state: SessionState, out: list[Event]) -> None:
        item = state.items.get(state.selected) if state.selected is not None else None
        self.say(out, state, "item_edit", item=item.text if item else "")

    def _edit_item(self, state: SessionState, text: str, out: list[Event]) -> SessionState:
        seq = state.selected
        item = state.items.get(seq) if seq is not None else None
        if seq is None or item is None:
            return self._back_to_review(state, out)
        step = self.flow.step(item.step_id)
        if len(text) > step.max_length:
            self.say(out, state, "too_long", length=len(text), max=step.max_length)
            return state
        items = dict(state.items)
        if text != item.text:
            items[seq] = Item(item.step_id, text, item.value, item.revision + 1)
            out.append(ItemRevised(seq, item.revision + 1, text, item.value))
        state = self.withdraw_inapplicable(state.evolve(items=items), out)
        self.say(out, state, "item_updated")
        withdrew = any(isinstance(event, ItemWithdrawn) for event in out)
        return self._back_to_review(state, out, changed=None if withdrew else seq)

    def _external_change(
        self, state: SessionState, inp: EditItem | DeleteItem, out: list[Event]
    ) -> SessionState:
        item = state.items.get(inp.seq)
        if item is None:
            return state  # an edit of something that was never an item (a command, a refusal)
        items = dict(state.items)
        if isinstance(inp, DeleteItem):
            del items[inp.seq]
            out.append(ItemDeleted(inp.seq))
            state = self.withdraw_inapplicable(state.evolve(items=items), out)
            self.say(out, state, "item_deleted")
            return self._on_an_applicable_step(state, out)
        text = normalize(inp.text)
        step = self.flow.step(item.step_id)
        if is_blank(text):
            self.say(out, state, "empty_message")
            return state
        if len(text) > step.max_length:
            self.say(out, state, "too_long", length=len(text), max=step.max_length)
            return state
        if text != item.text and KINDS.of(step).free_text:
            items[inp.seq] = Item(item.step_id, text, item.value, item.revision + 1)
            out.append(ItemRevised(inp.seq, item.revision + 1, text, item.value))
            state = self.withdraw_inapplicable(state.evolve(items=items), out)
            self.say(out, state, "item_updated")
            return self._on_an_applicable_step(state, out)
        return state

    # ------------------------------------------------------------------ rendering

    def _text_of(self, step: Step, state: SessionState) -> str:
        return step.prompt.get(state.language)

    def choice_label(
        self, step: Step, choice_id: str, state: SessionState, default: bool = False
    ) -> str:
        language = self.flow.default_language if default else state.language
        choice = step.choice(choice_id)
        return choice.label.get(language) if choice else choice_id

    def _step_buttons(self, step: Step, state: SessionState) -> tuple[Button, ...]:
        return KINDS.of(step).buttons(self, step, state)

    def ask(
        self, step: Step, state: SessionState, out: list[Event], *, heading: bool = False
    ) -> None:
        """Put ``step`` to the citizen; ``heading``: it opens a new part, whose title comes
        first."""
        lang = state.language
        t = self.catalog.t
        parts: list[str] = []
        part = self._part_of(step.id)
        prompt = step.prompt.get(lang)
        # A part named as its first question ("Avec quels moyens ?") is said once, by the
        # question.
        if heading and part is not None and not prompt.startswith(part.get(lang)):
            parts += [part.get(lang), ""]
        place = self._place(step, state)
        if place is not None:
            parts.append(t(lang, "question_place", number=place[0], total=place[1]))
        parts.append(prompt)
        if step.help is not None:
            parts.append(step.help.get(lang))
        kind = KINDS.of(step)
        parts += kind.hints(self, step, state)
        if kind.recalls_answer:
            existing = state.items_of(step.id)
            if existing:
                parts.append(t(lang, "current_answer", answer=existing[0][1].text))
        self.say(out, state, None, text="\n".join(parts), buttons=self._step_buttons(step, state))

    def say(
        self,
        out: list[Event],
        state: SessionState,
        key: str | None,
        *,
        text: str | None = None,
        buttons: tuple[Button, ...] = (),
        **params: object,
    ) -> None:
        if text is None:
            assert key is not None
            text = self.catalog.t(state.language, key, **params)
        out.append(Say(OutboundMessage(text=text, buttons=buttons)))

    # ------------------------------------------------------------------ matching typed answers

    def match(self, buttons: tuple[Button, ...], text: str) -> str | None:
        """A typed answer to offered choices: by id, by label, then by number."""
        choices = [b for b in buttons if b.kind is ButtonKind.CHOICE]
        folded = _fold(text)
        for button in choices:
            if folded == _fold(button.value) or folded == _fold(button.label):
                return button.value
        for button in choices:  # labels shown with a check mark, "✓ label"
            if folded == _fold(button.label.removeprefix("✓ ")):
                return button.value
        stripped = folded.strip(" .)]")
        return by_number(buttons, int(stripped)) if stripped.isdigit() else None


def _screen(state: SessionState) -> tuple[object, ...]:
    """What the citizen has in front of them; when it changes, it was shown anew."""
    return (state.status, state.mode, state.step_id, state.selected, state.review_final)


def engines_for(flows: Mapping[str, Flow], catalog: Catalog) -> dict[str, Engine]:
    return {key: Engine(flow, catalog) for key, flow in flows.items()}


def _by_step(state: SessionState) -> dict[str, list[Item]]:
    """The items of each step that has some, in the order they were given."""
    grouped: dict[str, list[Item]] = {}
    for seq in sorted(state.items):
        item = state.items[seq]
        grouped.setdefault(item.step_id, []).append(item)
    return grouped


def _holds(step: Step, values: Mapping[str, Value]) -> bool:
    return step.when is None or step.when.evaluate(values)


def _fold_label(label: str) -> str:
    """A button's label as a sentence names it: without its decorations (« Valider et
    terminer », not « ✅ Valider et terminer »)."""
    return label.strip(" ✅✔➡").strip()


def _yes_or_no(text: str) -> bool | None:
    folded = fold(text).strip(" .!")
    if folded in YES_WORDS:
        return True
    if folded in NO_WORDS:
        return False
    return None
