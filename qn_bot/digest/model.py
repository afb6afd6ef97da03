"""The weekly digest of a team, as a pure model: no I/O, no markup, no platform ids.

Inputs are the records the store hands out (campaigns, flows, items, the campaign's participants
as :mod:`qn_bot.participants` defines them); :mod:`qn_bot.digest.render` turns the result into
text, HTML or a preview. Participants appear in counts only: a digest shows neither names nor
pseudonyms. A digest is a public output: the anonymity threshold (:mod:`qn_bot.disclosure`)
holds for the campaign and for each section, over the period's respondents.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from qn_bot.digest.period import Period

if TYPE_CHECKING:  # numpy: the in-memory digest needs none
    from qn_bot.themes.history import WeekGroup
    from qn_bot.themes.trends import Trend
from qn_bot.digest.themes import (
    MAX_THEMES,
    MIN_THEME_COUNT,
    KeyCache,
    Theme,
    ThemeCounter,
    fold,
    letter_runs,
    theme_key,
    themes,
    words,
)
from qn_bot.disclosure import DEFAULT_MIN_RESPONDENTS, strictest
from qn_bot.flows.format import Flow
from qn_bot.flows.kinds import KINDS
from qn_bot.participants import (
    Participation,
    completed_between,
    count_participants,
    joined_between,
)
from qn_bot.records import CampaignRecord, ItemRecord
from qn_bot.synthesis import step_heading, utc
from qn_bot.themes import NOT_EMBEDDED

#: How many new items a section lists before "… et N autres".
DEFAULT_CAP = 5

__all__ = [  # the text analysis lives in qn_bot.digest.themes; these names stay importable here
    "MAX_THEMES",
    "MIN_THEME_COUNT",
    "KeyCache",
    "Theme",
    "ThemeCounter",
    "fold",
    "letter_runs",
    "theme_key",
    "themes",
    "words",
]


#: What a digest needs of a participant (the name it had when digests counted sessions).
SessionFact = Participation


@dataclass(frozen=True, slots=True)
class CampaignInput:
    campaign: CampaignRecord
    flow: Flow
    items: Sequence[ItemRecord]
    sessions: Sequence[Participation]  # the campaign's participants (qn_bot.participants)


@dataclass(frozen=True, slots=True)
class SectionDigest:
    step_id: str
    heading: str
    part: str | None  # set on the first shown section of a part
    new_count: int
    items: tuple[str, ...]  # newest first, at most the cap
    more: int  # how many new items were left out
    themes: tuple[Theme, ...]
    withheld: bool = False  # too few respondents in this section: its count only
    themes_fallback: str | None = None  # why ``themes`` are keywords, not by meaning
    trends: tuple[Trend, ...] = ()  # against the previous period (qn_bot.themes.trends)


@dataclass(frozen=True, slots=True)
class ThemeLines:
    """A section's top themes over the chart's weeks (qn_bot.themes.history.top_series)."""

    heading: str
    themes: tuple[tuple[str, tuple[int, ...]], ...]  # (label, items per chart week)


@dataclass(frozen=True, slots=True)
class LinkBlock:
    """One link between sections in words (qn_bot.themes.links_text), over the period."""

    heading: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WeekCount:
    start: datetime
    end: datetime
    per_section: tuple[int, ...]  # in the order of CampaignDigest.chart_sections


@dataclass(frozen=True, slots=True)
class CampaignDigest:
    slug: str
    title: str
    edition: str | None
    new_participants: int
    previous_new_participants: int
    completions: int
    previous_completions: int
    new_items: int
    previous_new_items: int
    respondents: int  # distinct authors of the period's new items
    total_participants: int
    total_items: int
    breakdown: bool  # False: fewer respondents than the minimum, counts only
    min_respondents: int  # the threshold applied: the team's or the campaign's, the higher
    sections: tuple[SectionDigest, ...]  # only sections with new items, in flow order
    chart_sections: tuple[str, ...]  # headings of every text section, in flow order
    weeks: tuple[WeekCount, ...]  # oldest first, the period last
    opinions: tuple[str, ...] = ()  # the opinion map's lines, when citizens vote (issue 15)
    started_at: datetime | None = None  # opened (else created): the chart's first week
    theme_lines: tuple[ThemeLines, ...] = ()  # per shown section with kept weeks
    links: tuple[LinkBlock, ...] = ()  # links between shown sections, over the period


@dataclass(frozen=True, slots=True)
class Digest:
    team: str
    language: str
    period: Period
    late: bool
    generated_at: datetime
    min_respondents: int
    campaigns: tuple[CampaignDigest, ...]
    capped_syntheses: bool = False  # an attached synthesis holds only the latest items

    @property
    def new_items(self) -> int:
        return sum(c.new_items for c in self.campaigns)


# --- the digest --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignFacts:
    """What a campaign's digest is made of, already counted for one period.

    :func:`campaign_facts` counts it from :class:`CampaignInput` in memory (small campaigns,
    tests); :mod:`qn_bot.digest.queries` counts it in SQL, so a campaign of a million items
    never has to be held as records.
    """

    campaign: CampaignRecord
    flow: Flow
    sessions: Sequence[Participation]  # the campaign's participants
    total_items: int
    new_per_step: Mapping[str, int]  # the period's new items, per step (every kind)
    previous_new_items: int
    respondents: int  # distinct authors of the period's new items
    # Text step → respondents of its new items, counted up to ``enough`` (only "enough or not"
    # matters; qn_bot.participants.section_respondents).
    step_respondents: Mapping[str, int]
    enough: int
    newest: Mapping[str, tuple[str, ...]]  # text step → newest texts of the period, newest first
    themes: Mapping[str, tuple[Theme, ...]]  # text step → its themes in the period
    weeks: tuple[Mapping[str, int], ...]  # per chart period: new items per step
    # Text step → why its themes are the TF-IDF keywords (qn_bot.themes.digest.period_themes).
    themes_fallback: Mapping[str, str] = field(default_factory=dict)
    trends: Mapping[str, tuple[Trend, ...]] = field(default_factory=dict)  # text step → trends
    # Text step → the period grouped by meaning (qn_bot.themes.digest.period_themes): what the
    # trends, the chart's lines and the links are made from (qn_bot.themes.digest_history).
    week_groups: Mapping[str, WeekGroup] = field(default_factory=dict)
    # Text step → its top themes over the chart's weeks: (label, items per chart week).
    theme_lines: Mapping[str, tuple[tuple[str, tuple[int, ...]], ...]] = field(default_factory=dict)
    links: tuple[LinkBlock, ...] = ()  # between sections shown in the period


def _in(period: Period, instant: datetime | None) -> bool:
    return instant is not None and period.contains(utc(instant))


def _new_participants(people: Sequence[Participation], period: Period) -> int:
    return joined_between(people, period.start, period.end)


def _completions(people: Sequence[Participation], period: Period) -> int:
    return completed_between(people, period.start, period.end)


def campaign_facts(
    data: CampaignInput,
    period: Period,
    previous: Period,
    language: str,
    *,
    cap: int = DEFAULT_CAP,
    chart_periods: Sequence[Period] = (),
    enough: int,
) -> CampaignFacts:
    """Count the facts of ``data`` in memory (``enough``: the threshold respondents are
    counted up to)."""
    new = [i for i in data.items if _in(period, i.created_at)]
    by_step: dict[str, list[ItemRecord]] = {}
    for item in new:
        by_step.setdefault(item.step_id, []).append(item)
    steps = [step.id for step in KINDS.free_text_steps(data.flow)]
    newest = {}
    found = {}
    people = {p.participant for p in data.sessions}
    step_respondents = {}
    for step_id in steps:
        step_items = by_step.get(step_id, [])
        authors = {i.participant_id for i in step_items if i.participant_id in people}
        if authors:
            step_respondents[step_id] = min(len(authors), enough)
        latest = sorted(step_items, key=lambda i: (utc(i.created_at), i.id), reverse=True)
        newest[step_id] = tuple(i.text for i in latest[:cap])
        found[step_id] = themes(
            [i.text for i in step_items], language, authors=[i.participant_id for i in step_items]
        )
    weeks = []
    for week in chart_periods:
        counts: Counter[str] = Counter(i.step_id for i in data.items if _in(week, i.created_at))
        weeks.append(dict(counts))
    return CampaignFacts(
        campaign=data.campaign,
        flow=data.flow,
        sessions=data.sessions,
        total_items=len(data.items),
        new_per_step={step_id: len(step_items) for step_id, step_items in by_step.items()},
        previous_new_items=sum(1 for i in data.items if _in(previous, i.created_at)),
        respondents=len({i.participant_id for i in new}),
        step_respondents=step_respondents,
        enough=enough,
        newest=newest,
        themes=found,
        # This path groups by words only (it reads no vectors): said as the counted path says it
        # when nothing is embedded, so both render the same digest.
        themes_fallback={step_id: NOT_EMBEDDED for step_id in steps if found.get(step_id)},
        weeks=tuple(weeks),
    )


def build_campaign_digest(
    data: CampaignInput | CampaignFacts,
    period: Period,
    previous: Period,
    language: str,
    *,
    min_respondents: int,
    cap: int = DEFAULT_CAP,
    chart_periods: Sequence[Period] = (),
) -> CampaignDigest:
    """``min_respondents`` is the team's threshold; the campaign's own applies too."""
    minimum = strictest(min_respondents, data.campaign.min_respondents)
    if isinstance(data, CampaignInput):
        data = campaign_facts(
            data, period, previous, language, cap=cap, chart_periods=chart_periods, enough=minimum
        )
    if data.enough < minimum:
        # Counted up to less than the threshold, every section would look too small.
        raise ValueError(f"respondents counted up to {data.enough}, the threshold is {minimum}")
    flow = data.flow
    lang = language if language in flow.languages else flow.default_language
    breakdown = data.respondents >= minimum

    sections: list[SectionDigest] = []
    current_part: str | None = None
    pending_part: str | None = None
    for step in flow.steps:
        if step.part is not None and step.part.get(lang) != current_part:
            current_part = step.part.get(lang)
            pending_part = current_part
        if not KINDS.of(step).free_text:
            continue  # a part declared on a choice or info step heads the next text section
        count = data.new_per_step.get(step.id, 0)
        if not count:
            continue
        detail = breakdown and data.step_respondents.get(step.id, 0) >= minimum
        shown = data.newest.get(step.id, ())[:cap] if detail else ()
        sections.append(
            SectionDigest(
                step_id=step.id,
                heading=step_heading(step, lang),
                part=pending_part,
                new_count=count,
                items=shown,
                more=count - len(shown) if detail else 0,
                themes=data.themes.get(step.id, ()) if detail else (),
                withheld=breakdown and not detail,
                themes_fallback=data.themes_fallback.get(step.id) if detail else None,
                trends=data.trends.get(step.id, ()) if detail else (),
            )
        )
        pending_part = None

    theme_lines = tuple(
        ThemeLines(section.heading, data.theme_lines[section.step_id])
        for section in sections
        if not section.withheld and data.theme_lines.get(section.step_id)
    )
    steps = KINDS.free_text_steps(flow)
    weeks = tuple(
        WeekCount(week.start, week.end, tuple(counts.get(step.id, 0) for step in steps))
        for week, counts in zip(chart_periods, data.weeks, strict=True)
    )
    c = data.campaign
    return CampaignDigest(
        slug=c.slug,
        title=c.title,
        edition=c.edition or None,
        new_participants=_new_participants(data.sessions, period),
        previous_new_participants=_new_participants(data.sessions, previous),
        completions=_completions(data.sessions, period),
        previous_completions=_completions(data.sessions, previous),
        new_items=sum(data.new_per_step.values()),
        previous_new_items=data.previous_new_items,
        respondents=data.respondents,
        total_participants=count_participants(data.sessions),
        total_items=data.total_items,
        breakdown=breakdown,
        min_respondents=minimum,
        sections=tuple(sections),
        chart_sections=tuple(step_heading(s, lang) for s in steps),
        weeks=weeks,
        started_at=c.opens_at if c.opens_at is not None else c.created_at,
        theme_lines=theme_lines if breakdown else (),
        links=data.links if breakdown else (),
    )


def build_digest(
    team: str,
    language: str,
    period: Period,
    previous: Period,
    inputs: Sequence[CampaignInput | CampaignFacts],
    *,
    now: datetime,
    late: bool = False,
    min_respondents: int = DEFAULT_MIN_RESPONDENTS,
    cap: int = DEFAULT_CAP,
    chart_periods: Sequence[Period] = (),
) -> Digest:
    return Digest(
        team=team,
        language=language,
        period=period,
        late=late,
        generated_at=utc(now),
        min_respondents=min_respondents,
        campaigns=tuple(
            build_campaign_digest(
                data,
                period,
                previous,
                language,
                min_respondents=min_respondents,
                cap=cap,
                chart_periods=chart_periods,
            )
            for data in inputs
        ),
    )
