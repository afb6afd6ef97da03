"""``list``: several short items, one message each (a message of bullet lines is several), until
/suivant; the method's most common question."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from qn_bot.domain import Button, ButtonKind
from qn_bot.flows.events import ItemAdded
from qn_bot.flows.format import StepKind
from qn_bot.flows.kinds.base import StepKindBase, fold
from qn_bot.flows.state import Item, Mode
from qn_bot.text import quote, split_items

if TYPE_CHECKING:
    from qn_bot.flows.engine import Engine
    from qn_bot.flows.events import Event
    from qn_bot.flows.expr import Value
    from qn_bot.flows.format import Step
    from qn_bot.flows.state import SessionState


#: Typed alone on a list step, these mean /suivant (in either language: people mix them).
NEXT_WORDS = frozenset({"suivant", "suite", "fini", "termine", "next", "done", "finished"})
WORD_NEXT, WORD_KEEP = "word:next", "word:keep"


class ListKind(StepKindBase):
    name = StepKind.LIST
    keys = frozenset({"examples", "when", "min_items", "max_items", "max_length"})
    free_text = True

    def answers_at_most(self, step: Step) -> int:
        return step.max_items

    def value(self, items: Sequence[Item]) -> Value:
        return tuple(item.text for item in items)

    def hints(self, engine: Engine, step: Step, state: SessionState) -> list[str]:
        t = engine.catalog.t
        lang = state.language
        hints = [t(lang, "list_hint")]
        if step.examples.get(lang):
            hints.append(t(lang, "examples_hint"))
        count = len(state.items_of(step.id))
        if count:
            ideas = engine.catalog.plural(lang, "count_ideas", count)
            hints.append(t(lang, "list_already", ideas=ideas))
        return hints

    def buttons(self, engine: Engine, step: Step, state: SessionState) -> tuple[Button, ...]:
        t = engine.catalog.t
        buttons = [Button(ButtonKind.COMMAND, "suivant", t(state.language, "button_next"))]
        if step.examples.get(state.language):
            buttons.append(
                Button(ButtonKind.COMMAND, "exemple", t(state.language, "button_examples"))
            )
        return tuple(buttons)

    def on_next(
        self, engine: Engine, step: Step, state: SessionState, out: list[Event]
    ) -> SessionState:
        count = len(state.items_of(step.id))
        if count < step.min_items:
            ideas = engine.catalog.plural(state.language, "count_ideas", step.min_items)
            engine.say(out, state, "list_min_items", ideas=ideas, count=count)
            return state
        return engine.advance(state, out)

    def on_text(
        self, engine: Engine, step: Step, state: SessionState, text: str, out: list[Event]
    ) -> SessionState:
        if fold(text).strip(" .!") in NEXT_WORDS:
            if state.items_of(step.id):
                return self.on_next(engine, step, state, out)
            # Alone, it may be an idea as well as a wish to move on: ask which.
            state = state.evolve(mode=Mode.CONFIRM_WORD, pending_text=text)
            self.confirm_word(engine, state, out)
            return state
        return self.add(engine, step, state, text, out)

    def confirm_word(self, engine: Engine, state: SessionState, out: list[Event]) -> None:
        assert state.pending_text is not None
        t = engine.catalog.t
        lang = state.language
        word = quote(state.pending_text)
        engine.say(
            out,
            state,
            "list_word_confirm",
            word=word,
            buttons=(
                Button(ButtonKind.CHOICE, WORD_NEXT, t(lang, "list_word_next")),
                Button(ButtonKind.CHOICE, WORD_KEEP, t(lang, "list_word_keep", word=word)),
            ),
        )

    def on_confirm(
        self, engine: Engine, step: Step, state: SessionState, choice_id: str, out: list[Event]
    ) -> SessionState:
        """The answer to :meth:`confirm_word` (``choice_id`` is one of its buttons)."""
        word = state.pending_text
        state = state.evolve(mode=Mode.ASK, pending_text=None)
        if choice_id == WORD_KEEP and word is not None:
            return self.add(engine, step, state, word, out)
        return self.on_next(engine, step, state, out)

    def add(
        self, engine: Engine, step: Step, state: SessionState, text: str, out: list[Event]
    ) -> SessionState:
        items = split_items(text)
        too_long = [item for item in items if len(item) > step.max_length]
        if too_long:
            engine.say(out, state, "too_long", length=len(too_long[0]), max=step.max_length)
            return state
        if not items:
            engine.say(out, state, "empty_message")
            return state
        count = len(state.items_of(step.id))
        room = step.max_items - count
        if len(items) > room:
            plural = engine.catalog.plural
            ideas = plural(state.language, "count_ideas", step.max_items)
            left = plural(state.language, "list_room", room)
            engine.say(out, state, "list_over_max", ideas=ideas, room=left)
            return state
        new_items = dict(state.items)
        seq = state.next_seq
        for item_text in items:
            new_items[seq] = Item(step.id, item_text)
            out.append(ItemAdded(seq, step.id, item_text, None))
            seq += 1
        state = engine.withdraw_inapplicable(state.evolve(items=new_items, next_seq=seq), out)
        count += len(items)
        if count >= step.max_items:
            ideas = engine.catalog.plural(state.language, "count_ideas", step.max_items)
            engine.say(out, state, "list_full", ideas=ideas)
            return engine.advance(state, out)
        key = "item_noted" if len(items) == 1 else "items_noted"
        engine.say(
            out,
            state,
            key,
            added=len(items),
            count=count,
            buttons=self.buttons(engine, step, state),
        )
        return state
