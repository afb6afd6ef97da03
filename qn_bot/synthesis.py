"""The synthesis of a campaign, as the seed page shows it: sections in flow order with bullets.

A pure model: no I/O, no markup. :mod:`qn_bot.export` renders it as Markdown or HTML. Built for a
public output, it follows a :class:`~qn_bot.disclosure.Disclosure`: a section with too few
respondents keeps its count and loses its bullets. The number of participants comes from the
store (:mod:`qn_bot.participants`), never from the items at hand: the page may hold only some.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from qn_bot.disclosure import Disclosure
from qn_bot.flows.format import Flow, Step
from qn_bot.flows.kinds import KINDS
from qn_bot.i18n import default_catalog
from qn_bot.records import CampaignRecord, ItemRecord


@dataclass(frozen=True, slots=True)
class Bullet:
    text: str
    # The /signer name of the participant who wrote it (participant text: renderers escape it).
    signature: str | None = None
    hidden: bool = False  # by moderation: only a facilitator's export shows it, marked
    count: int = 1  # answers that say the same (same_text); shown as « (×2) »
    signed: int = 0  # how many of them carry a signature: « (×3, dont une signée Marie) »


@dataclass(frozen=True, slots=True)
class Section:
    step_id: str
    kind: str  # a name in qn_bot.flows.kinds.KINDS
    heading: str
    # Set only on the first section of a part, so renderers print each part heading once.
    part: str | None
    bullets: tuple[Bullet, ...]
    count: int = 0  # live answers of the step
    withheld: bool = False  # too few respondents: the count is shown, never the bullets

    @property
    def shows_heading(self) -> bool:
        """False when the part heading just above says the same ("1 – Pourquoi… ?" over
        "Pourquoi… ?"): a title is read once."""
        return self.part is None or not same_heading(self.part, self.heading)


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
    return format_date(d, "fr")


def format_date_en(d: date) -> str:
    return format_date(d, "en")


def format_date(d: date, language: str) -> str:
    """A long date in ``language``; French for any language we have no month names for."""
    if isinstance(d, datetime):
        d = utc(d).date()
    t = default_catalog().t
    # French writes the first day of a month as an ordinal: « 1er mai ».
    day = t(language, "date_first_day") if d.day == 1 else str(d.day)
    return t(language, "date_long", day=day, month=t(language, f"month_{d.month}"), year=d.year)


def utc(d: datetime) -> datetime:
    """The store hands out aware UTC datetimes; a naive one (hand-built records) is taken as UTC."""
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def step_heading(step: Step, language: str) -> str:
    return (step.section or step.prompt).get(language)


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
        if not KINDS.of(step).stores_answers:
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
    kind = KINDS.of(step)
    if kind.free_text:
        return merge_identical(items)
    return tuple(Bullet(text) for text in kind.summary(step, items, language))


def same_text(text: str) -> str:
    """What two answers share when they say the same thing: case, accents, spaces and
    punctuation aside (« Les tiers-lieux » = « les Tiers lieux ! »)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NOT_WORD.sub(" ", letters).split())


_NOT_WORD = re.compile(r"[\W_]+")
#: "1 – ", "2. ", "IV) ": a part's number, left out when comparing it with a section title.
_PART_NUMBER = re.compile(r"^\s*(?:\d+|[ivxlcdm]+)\s*[-–—.):]\s*", re.IGNORECASE)


def same_heading(part: str, heading: str) -> bool:
    return same_text(_PART_NUMBER.sub("", part)) == same_text(heading)


def merge_identical(items: Sequence[ItemRecord]) -> tuple[Bullet, ...]:
    """One bullet per distinct answer (:func:`same_text`), in the order first given, worded as
    first given, with the count, every signature of those who gave it and how many of them
    signed. A hidden item is merged only with hidden ones: the mark must stay true."""
    groups: dict[tuple[str, bool], list[ItemRecord]] = {}
    for item in items:
        groups.setdefault((same_text(item.text) or item.text, item.hidden), []).append(item)
    bullets = []
    for (_, hidden), same in groups.items():
        signatures = list(dict.fromkeys(i.signature for i in same if i.signature is not None))
        bullets.append(
            Bullet(
                same[0].text,
                ", ".join(signatures) if signatures else None,
                hidden,
                count=len(same),
                signed=sum(1 for i in same if i.signature is not None),
            )
        )
    return tuple(bullets)
