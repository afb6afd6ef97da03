"""A recap as the chat message a citizen reads (pure): short lines for a phone's width, one
block per section, the citizen's words quoted, nothing from others but theme labels, counts at
the threshold and one quoted idea that /signaler can flag."""

from __future__ import annotations

from qn_bot.i18n import Catalog
from qn_bot.recap.model import Recap, SectionRecap
from qn_bot.text import quote

#: How much of one idea a recap quotes (the whole of it is in /mes_reponses).
IDEA_WIDTH = 200


def render_recap(recap: Recap, catalog: Catalog) -> str:
    lang = recap.language
    blocks = [catalog.t(lang, "recap_title", title=recap.title)]
    blocks += [_section(section, catalog, lang) for section in recap.sections]
    if recap.standing:
        blocks.append("\n".join([catalog.t(lang, "recap_standing"), *recap.standing]))
    closing = []
    if recap.example is not None:
        closing.append(catalog.t(lang, "recap_example", text=quote(recap.example.text, IDEA_WIDTH)))
    if recap.link is not None:
        closing.append(catalog.t(lang, "recap_link", url=recap.link))
    closing.append(catalog.t(lang, "recap_footer"))
    blocks.append("\n".join(closing))
    return "\n\n".join(blocks)


def _section(section: SectionRecap, catalog: Catalog, lang: str) -> str:
    lines = [section.heading]
    for idea in section.ideas:
        lines.append(catalog.t(lang, "recap_idea", text=quote(idea.text, IDEA_WIDTH)))
        if idea.theme is not None and idea.others is not None:
            lines.append(catalog.plural(lang, "recap_theme_others", idea.others, theme=idea.theme))
        elif idea.theme is not None:
            lines.append(catalog.t(lang, "recap_theme", theme=idea.theme))
        elif idea.others is not None:  # close ideas that no shared word names
            lines.append(catalog.plural(lang, "recap_unnamed_others", idea.others))
    if section.withheld:
        lines.append(catalog.t(lang, "recap_withheld"))
    if section.missed:
        listed = ", ".join(
            catalog.plural(lang, "recap_missed_theme", theme.people, label=theme.label)
            for theme in section.missed
        )
        lines.append(catalog.t(lang, "recap_missed", themes=listed))
    return "\n".join(lines)
