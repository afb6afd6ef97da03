"""What a citizen's recap holds (pure: no I/O, no clock).

A wave reads a campaign once (:func:`prepare`: each text section's themes, every citizen's own
items) and builds each citizen's recap from it (:func:`build_recap`). What the recap may say
follows the anonymity rule of :mod:`qn_bot.disclosure`:

- a section with fewer public respondents than the threshold shows the citizen's own items and
  nothing derived from others (no theme, no count);
- « N autres personnes ont exprimé une idée proche » appears only when N reaches the threshold;
- a theme the citizen did not mention is named only when that many people did;
- a theme is named only by a word several citizens used (:mod:`qn_bot.recap.themes`): an idea
  in a group without one says how many others said something close, never a name, and such a
  group is no theme "not mentioned";
- themes and counts come from public items only (moderation's filter); the citizen's own items
  are theirs to see, hidden or not, as in /mes_reponses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from qn_bot.flows.format import Flow, Step
from qn_bot.flows.kinds import KINDS
from qn_bot.recap.themes import ThemeInput, item_themes
from qn_bot.records import CampaignRecord, ItemRecord
from qn_bot.synthesis import step_heading

#: Themes a section names among those the citizen did not mention.
MISSED_THEMES = 3


@dataclass(frozen=True, slots=True)
class ThemeGroup:
    label: str  # "" for close ideas that no word of several citizens names
    people: frozenset[int]  # participants with a public item in this theme
    #: the earliest public items of its first two authors: (item id, participant id, text)
    examples: tuple[tuple[int, int, str], ...]


@dataclass(frozen=True, slots=True)
class SectionData:
    step: Step
    disclosed: bool  # enough public respondents to show anything derived from others
    themes: tuple[ThemeGroup, ...]
    theme_of: Mapping[int, int]  # item id → index in ``themes``


@dataclass(frozen=True, slots=True)
class CampaignData:
    """A campaign as every recap of one wave sees it."""

    campaign: CampaignRecord
    flow: Flow
    minimum: int
    sections: tuple[SectionData, ...]
    own: Mapping[int, tuple[ItemRecord, ...]]  # participant → live text items, hidden too

    def answered(self, participant_id: int) -> bool:
        return bool(self.own.get(participant_id))


def prepare(
    campaign: CampaignRecord,
    flow: Flow,
    items: Sequence[ItemRecord],
    minimum: int,
    vectors: Mapping[int, bytes] | None = None,
) -> CampaignData:
    """``items``: every live item of the campaign, those not public marked ``hidden`` (as
    ``campaign_items(include_hidden=True)`` reads them); ``vectors``: their stored embeddings
    (item id → vector), so themes are by meaning (:mod:`qn_bot.recap.themes`)."""
    stored = vectors if vectors is not None else {}
    by_step: dict[str, list[ItemRecord]] = {}
    own: dict[int, list[ItemRecord]] = {}
    steps = KINDS.free_text_steps(flow)
    wanted = {step.id for step in steps}
    for item in items:
        if item.step_id in wanted and item.text:
            by_step.setdefault(item.step_id, []).append(item)
            own.setdefault(item.participant_id, []).append(item)
    sections = []
    for step in steps:
        found = by_step.get(step.id, [])
        public = [i for i in found if not i.hidden]
        hidden = [i for i in found if i.hidden]
        grouped = item_themes(
            [ThemeInput(i.id, i.text, stored.get(i.id)) for i in public],
            flow.default_language,
            authors={i.id: i.participant_id for i in public},
            placed=[ThemeInput(i.id, i.text, stored.get(i.id)) for i in hidden],
        )
        people: list[set[int]] = [set() for _ in grouped.labels]
        examples: list[list[tuple[int, int, str]]] = [[] for _ in grouped.labels]
        for item in public:
            index = grouped.of.get(item.id)
            if index is None:
                continue
            if item.participant_id not in people[index] and len(examples[index]) < 2:
                examples[index].append((item.id, item.participant_id, item.text))
            people[index].add(item.participant_id)
        themes = tuple(
            ThemeGroup(label, frozenset(who), tuple(ex))
            for label, who, ex in zip(grouped.labels, people, examples, strict=True)
        )
        respondents = len({i.participant_id for i in public})
        sections.append(SectionData(step, respondents >= minimum, themes, dict(grouped.of)))
    return CampaignData(
        campaign, flow, minimum, tuple(sections), {p: tuple(i) for p, i in own.items()}
    )


# ---------------------------------------------------------------------- one citizen's recap


@dataclass(frozen=True, slots=True)
class OwnIdea:
    text: str
    theme: str | None  # None: in no theme or an unnamed one, or the section shows none
    others: int | None  # other people in that theme (named or not); None below the threshold


@dataclass(frozen=True, slots=True)
class MissedTheme:
    label: str
    people: int


@dataclass(frozen=True, slots=True)
class SectionRecap:
    heading: str
    ideas: tuple[OwnIdea, ...]
    missed: tuple[MissedTheme, ...]
    withheld: bool  # too few respondents: nothing derived from others is shown


@dataclass(frozen=True, slots=True)
class Example:
    """Someone else's idea the recap quotes (``/signaler`` flags it)."""

    item_id: int
    text: str


@dataclass(frozen=True, slots=True)
class Recap:
    title: str
    language: str
    sections: tuple[SectionRecap, ...]
    example: Example | None = None
    link: str | None = None  # the published synthesis
    #: where the citizen stands among the opinion groups (issue 15), as lines; empty: not shown
    standing: tuple[str, ...] = field(default=())


def build_recap(
    data: CampaignData,
    participant_id: int,
    language: str,
    *,
    link: str | None = None,
    standing: Sequence[str] = (),
) -> Recap | None:
    """``participant_id``'s recap in ``language``; None when they have no idea in a section."""
    mine = data.own.get(participant_id, ())
    if not mine:
        return None
    sections = []
    best: tuple[int, Example] | None = None
    for section in data.sections:
        own = [i for i in mine if i.step_id == section.step.id]
        ideas = []
        mentioned: set[int] = set()
        for item in own:
            index = section.theme_of.get(item.id)
            if index is None or not section.disclosed:
                ideas.append(OwnIdea(item.text, None, None))
                continue
            mentioned.add(index)
            theme = section.themes[index]
            others = len(theme.people - {participant_id})
            shown = others if others >= data.minimum else None
            ideas.append(OwnIdea(item.text, theme.label or None, shown))
        missed = []
        if section.disclosed:
            ranked = sorted(
                (
                    (index, theme)
                    for index, theme in enumerate(section.themes)
                    if index not in mentioned and theme.label and len(theme.people) >= data.minimum
                ),
                key=lambda pair: (-len(pair[1].people), pair[0]),
            )
            for _, theme in ranked[:MISSED_THEMES]:
                missed.append(MissedTheme(theme.label, len(theme.people)))
                example = next((e for e in theme.examples if e[1] != participant_id), None)
                if example is not None and (best is None or len(theme.people) > best[0]):
                    best = (len(theme.people), Example(example[0], example[2]))
        if ideas or missed:
            sections.append(
                SectionRecap(
                    step_heading(section.step, language),
                    tuple(ideas),
                    tuple(missed),
                    withheld=bool(ideas) and not section.disclosed,
                )
            )
    return Recap(
        title=data.campaign.title,
        language=language,
        sections=tuple(sections),
        example=None if best is None else best[1],
        link=link,
        standing=tuple(standing),
    )
