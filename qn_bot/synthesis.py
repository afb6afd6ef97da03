"""The synthesis of a campaign, as the seed page shows it: sections in flow order with bullets.

A pure model: no I/O, no markup. :mod:`qn_bot.export` renders it as Markdown or HTML. Built for a
public output, it follows a :class:`~qn_bot.disclosure.Disclosure`: a section with too few
respondents keeps its count and loses its bullets. The number of participants comes from the
store (:mod:`qn_bot.participants`), never from the items at hand: the page may hold only some.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from qn_bot.disclosure import Disclosure
from qn_bot.flows.format import Flow, Step, StepKind
from qn_bot.records import CampaignRecord, ItemRecord

_MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

_TEXT_KINDS = frozenset({StepKind.LIST, StepKind.TEXT})
_CHOICE_KINDS = frozenset({StepKind.CHOICE, StepKind.MULTICHOICE})
_NUMBER_KINDS = frozenset({StepKind.SCALE, StepKind.NUMBER})
_SKIPPED_KINDS = frozenset({StepKind.INFO, StepKind.CONSENT})


@dataclass(frozen=True, slots=True)
class Bullet:
    text: str
    # The /signer name of the participant who wrote it (participant text: renderers escape it).
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class Section:
    step_id: str
    kind: StepKind
    heading: str
    # Set only on the first section of a part, so renderers print each part heading once.
    part: str | None
    bullets: tuple[Bullet, ...]
    count: int = 0  # live answers of the step
    withheld: bool = False  # too few respondents: the count is shown, never the bullets


@dataclass(frozen=True, slots=True)
class Synthesis:
    slug: str
    edition: str | None
    title: str
    flow_title: str
    language: str
    updated_at: datetime
    generated_at: datetime
    participants: int
    sections: tuple[Section, ...]
    min_respondents: int | None = None  # the threshold applied; None: nothing withheld


def format_date_fr(d: date) -> str:
    # French writes the first day of a month as an ordinal: « 1er mai ».
    day = "1er" if d.day == 1 else str(d.day)
    return f"{day} {_MONTHS_FR[d.month - 1]} {d.year}"


def format_date_en(d: date) -> str:
    return f"{d.day} {_MONTHS_EN[d.month - 1]} {d.year}"


def format_date(d: date, language: str) -> str:
    """A long date in ``language``; French for any language we have no month names for."""
    if isinstance(d, datetime):
        d = utc(d).date()
    return format_date_en(d) if language == "en" else format_date_fr(d)


def utc(d: datetime) -> datetime:
    """The store hands out aware UTC datetimes; a naive one (hand-built records) is taken as UTC."""
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def step_heading(step: Step, language: str) -> str:
    return (step.section or step.prompt).get(language)


def format_number(value: float, language: str) -> str:
    """At most two decimals, no trailing zeros, a decimal comma in French."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text.replace(".", ",") if language != "en" else text


def build_synthesis(
    campaign: CampaignRecord,
    flow: Flow,
    items: list[ItemRecord],
    language: str,
    now: datetime,
    *,
    participants: int,
    disclosure: Disclosure | None = None,
) -> Synthesis:
    """``participants`` as :mod:`qn_bot.participants` counts them; ``disclosure`` for a public
    output (None: a facilitator's export, with everything)."""
    by_step: dict[str, list[ItemRecord]] = {}
    for item in items:
        by_step.setdefault(item.step_id, []).append(item)

    sections: list[Section] = []
    current_part: str | None = None
    pending_part: str | None = None
    for step in flow.steps:
        if step.part is not None:
            part = step.part.get(language)
            if part != current_part:
                current_part = part
                pending_part = part
        if step.kind in _SKIPPED_KINDS:
            # A part declared on an info step still heads the next section shown.
            continue
        answers = by_step.get(step.id, [])
        withheld = bool(answers) and disclosure is not None and not disclosure.shows(step.id)
        sections.append(
            Section(
                step_id=step.id,
                kind=step.kind,
                heading=step_heading(step, language),
                part=pending_part,
                bullets=() if withheld else _bullets(step, answers, language),
                count=len(answers),
                withheld=withheld,
            )
        )
        pending_part = None

    updated_at = max((utc(i.updated_at) for i in items), default=utc(campaign.updated_at))
    return Synthesis(
        slug=campaign.slug,
        edition=campaign.edition or None,
        title=campaign.title,
        flow_title=flow.title.get(language),
        language=language,
        updated_at=updated_at,
        generated_at=utc(now),
        participants=participants,
        sections=tuple(sections),
        min_respondents=None if disclosure is None else disclosure.minimum,
    )


def _bullets(step: Step, items: Sequence[ItemRecord], language: str) -> tuple[Bullet, ...]:
    if step.kind in _TEXT_KINDS:
        return tuple(Bullet(i.text, i.signature) for i in items)
    if step.kind in _CHOICE_KINDS:
        return tuple(Bullet(text) for text in _choice_bullets(step, items, language))
    if step.kind in _NUMBER_KINDS:
        return tuple(Bullet(text) for text in _number_bullets(items, language))
    return ()


def _choice_ids(value: object) -> Iterable[str]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        # A participant counts once per choice even if a value repeats an id.
        return dict.fromkeys(v for v in value if isinstance(v, str))
    return ()


def _choice_bullets(step: Step, items: Sequence[ItemRecord], language: str) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for item in items:
        for choice_id in _choice_ids(item.value):
            counts[choice_id] = counts.get(choice_id, 0) + 1
    # Flow order, as the seed numbers its means 1) to 5); ids the flow no longer has are dropped.
    return tuple(
        f"{c.label.get(language)} ({counts[c.id]})" for c in step.choices if counts.get(c.id)
    )


def _number_of(item: ItemRecord) -> float | None:
    value = item.value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(item.text.replace("\u202f", "").replace(" ", "").replace(",", "."))
    except ValueError:
        return None


def _number_bullets(items: Sequence[ItemRecord], language: str) -> tuple[str, ...]:
    numbers = [n for n in (_number_of(i) for i in items) if n is not None and n == n]
    if not numbers:
        return ()
    count = len(numbers)
    mean = format_number(sum(numbers) / count, language)
    low, high = format_number(min(numbers), language), format_number(max(numbers), language)
    if language == "en":
        answers = "1 answer" if count == 1 else f"{count} answers"
        return (f"{answers} · mean {mean} · min {low} · max {high}",)
    answers = f"{count} réponse" if count <= 1 else f"{count} réponses"
    return (f"{answers} · moyenne {mean} · min {low} · max {high}",)
