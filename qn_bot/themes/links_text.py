"""Links between sections in words, for the site and the digest: « Ceux qui voient mourir X
voient surtout naître Y (9 personnes) », from the flow's sentence or a generic one."""

from __future__ import annotations

from qn_bot.flows.format import Flow
from qn_bot.i18n import default_catalog
from qn_bot.themes.links import SectionLink, strong_pairs


def side_name(flow: Flow, steps: tuple[str, ...], language: str) -> str:
    """A side's name: its step's section (or prompt); several steps, their shared part if any."""
    found = [flow.step(s) for s in steps]
    if len(found) > 1:
        parts = {s.part.get(language) for s in found if s.part is not None}
        if len(parts) == 1:
            return parts.pop()
    names = [(s.section or s.prompt).get(language) for s in found]
    return " / ".join(names) if len(names) <= 2 else f"{names[0]} …"


def heading(flow: Flow, found: SectionLink, language: str) -> str:
    return default_catalog().t(
        language,
        "links_heading",
        left=side_name(flow, found.link.left, language),
        right=side_name(flow, found.link.right, language),
    )


def link_lines(found: SectionLink, language: str) -> list[str]:
    """The link's strong pairs as sentences; none when no shown pair is above chance."""
    catalog = default_catalog()
    sentence = (
        found.link.sentence.get(language)
        if found.link.sentence is not None
        else catalog.t(language, "links_generic", left="{left}", right="{right}")
    )
    return [
        sentence.format(left=pair.left, right=pair.right)
        + " "
        + catalog.plural(language, "links_people", pair.count or 0)
        for pair in strong_pairs(found.grid)
    ]
