"""Digest rendering: plain text for chats, an HTML e-mail body, a preview for the terminal.

Participant text is untrusted everywhere: the chat text is plain (each adapter escapes it for its
own markup), the HTML goes through Jinja2 with autoescape, the terminal preview has its control
characters removed so an answer cannot drive the terminal (ANSI escapes). The digest never names
anyone: it holds counts, headings, the items themselves and themes — the last two only for
sections with enough respondents (:mod:`qn_bot.digest.model`).

The sentences are the catalogue's ``digest_*`` keys: a digest is a document whose wording
changes with its layout, so its sentences are kept apart from the chat replies.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date

from qn_bot.digest.model import CampaignDigest, Digest, SectionDigest
from qn_bot.i18n import default_catalog
from qn_bot.synthesis import format_date, same_heading
from qn_bot.templating import templates
from qn_bot.themes import NOT_EMBEDDED

ITEM_CHARS = 200

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def labels(language: str) -> Mapping[str, str]:
    return default_catalog().table(language, "digest_")


def plural(language: str, key: str, count: int) -> str:
    return default_catalog().plural(language, f"digest_{key}", count)


def clean(text: str) -> str:
    """Remove control characters (ANSI escapes, bidi overrides) from untrusted text."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


def one_line(text: str, limit: int = ITEM_CHARS) -> str:
    """An item on one line, cut at ``limit`` characters with an ellipsis."""
    text = " ".join(clean(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def delta(now: int, before: int) -> str:
    diff = now - before
    return f"+{diff}" if diff > 0 else f"−{-diff}" if diff < 0 else "="


def _date(d: date, language: str) -> str:
    return format_date(d, language)


def period_text(digest: Digest) -> str:
    lab = labels(digest.language)
    p = digest.period
    return lab["period"].format(
        start=_date(p.start_date, digest.language), end=_date(p.end_date, digest.language)
    )


def subject(digest: Digest) -> str:
    lab = labels(digest.language)
    key = "subject_late" if digest.late else "subject"
    return lab[key].format(start=_date(digest.period.start_date, digest.language))


def campaign_title(c: CampaignDigest, language: str) -> str:
    if c.edition:
        return f"{c.title} — {labels(language)['edition'].format(edition=c.edition)}"
    return c.title


def stat_lines(c: CampaignDigest, digest: Digest) -> list[str]:
    lab = labels(digest.language)
    lines = [
        lab["participants"].format(
            count=c.new_participants, delta=delta(c.new_participants, c.previous_new_participants)
        ),
        lab["completions"].format(
            count=c.completions, delta=delta(c.completions, c.previous_completions)
        ),
        lab["items"].format(
            count=c.new_items,
            delta=delta(c.new_items, c.previous_new_items),
            respondents=plural(digest.language, "respondents", c.respondents),
        ),
        lab["totals"].format(
            participants=plural(digest.language, "participants", c.total_participants),
            items=plural(digest.language, "contributions", c.total_items),
        ),
        *c.opinions,  # the opinion map's block (qn_bot.opinions.report.digest_lines)
    ]
    return [clean(line) for line in lines]


def themes_text(section: SectionDigest, language: str) -> str | None:
    if not section.themes:
        return None
    unnamed = labels(language)["themes_unnamed"]
    listed = ", ".join(
        f"{t.label} ({t.count})" if t.label else unnamed.format(count=t.count)
        for t in section.themes
    )
    text = labels(language)["themes"].format(themes=clean(listed))
    if section.themes_fallback is None:
        return text
    pending = section.themes_fallback == NOT_EMBEDDED
    return f"{text} {labels(language)['themes_fallback_pending' if pending else 'themes_fallback']}"


def trend_lines(section: SectionDigest, language: str) -> list[str]:
    """« 📈 Mobilité douce 12 → 21 »: the section's new, rising and fading themes."""
    from qn_bot.themes.trends import FADING, NEW, RISING

    lab = labels(language)
    out = []
    for t in section.trends:
        mark = {NEW: "🆕", RISING: "📈", FADING: "📉"}.get(t.kind, "🔀")
        line = (
            f"{mark} {clean(t.label)} {t.after}"
            if t.kind == NEW
            else (f"{mark} {clean(t.label)} {t.before} → {t.after}")
        )
        if t.merged_from:
            line += " " + lab["trend_merged"].format(themes=clean(", ".join(t.merged_from)))
        if t.split_from is not None:
            line += " " + lab["trend_split"].format(theme=clean(t.split_from))
        out.append(line)
    if out:
        out.insert(0, lab["trends"])
    return out


def link_lines(c: CampaignDigest) -> list[str]:
    """The links between sections over the period, a block per link: its heading, then its
    sentences (« Ceux qui voient mourir X voient surtout naître Y (9 personnes) »), already in
    the digest's language."""
    out = []
    for link in c.links:
        out += ["", clean(link.heading), *(f"  • {clean(line)}" for line in link.lines)]
    return out


def section_count(section: SectionDigest, language: str) -> str:
    return plural(language, "section_count", section.new_count)


def more_text(count: int, language: str) -> str:
    return plural(language, "more", count)


def withheld_text(c: CampaignDigest, language: str) -> str:
    return labels(language)["withheld"].format(minimum=c.min_respondents)


def _late_text(digest: Digest) -> str:
    return labels(digest.language)["late"].format(
        end=_date(digest.period.end_date, digest.language)
    )


# --- plain text for chats ------------------------------------------------------------------------


def render_text(
    digest: Digest, *, max_items: int | None = None, item_chars: int = ITEM_CHARS
) -> str:
    lab = labels(digest.language)
    lang = digest.language
    out: list[str] = [lab["title"].format(team=clean(digest.team)), period_text(digest)]
    if digest.late:
        out.append(_late_text(digest))
    if not digest.campaigns:
        out += ["", lab["no_campaign"]]
    for c in digest.campaigns:
        out += ["", f"■ {one_line(campaign_title(c, lang), 300)}", *stat_lines(c, digest)]
        if not c.new_items:
            out.append(lab["nothing"])
            continue
        if not c.breakdown:
            out.append(lab["no_breakdown"].format(minimum=c.min_respondents))
            continue
        for s in c.sections:
            if s.part and not same_heading(s.part, s.heading):
                out += ["", f"— {one_line(s.part, 300)} —"]
            out += ["", f"{one_line(s.heading, 300)} ({section_count(s, lang)})"]
            if s.withheld:
                out.append("  " + withheld_text(c, lang))
                continue
            shown = s.items if max_items is None else s.items[:max_items]
            out += [f"  • {one_line(item, item_chars)}" for item in shown]
            rest = s.new_count - len(shown)
            if rest:
                out.append("  " + more_text(rest, lang))
            themes = themes_text(s, lang)
            if themes:
                out.append("  " + themes)
            out += ["  " + line for line in trend_lines(s, lang)]
        out += link_lines(c)
    out += ["", lab["attached_capped" if digest.capped_syntheses else "attached"]]
    return "\n".join(out)


def render_chat_text(digest: Digest, limit: int) -> str:
    """The chat text, shortened until it fits one message of ``limit`` characters (the
    destination platform's ``max_text_length``) with fewer and shorter items."""
    for max_items, chars in ((None, ITEM_CHARS), (3, 120), (2, 80), (1, 60), (0, 60)):
        text = render_text(digest, max_items=max_items, item_chars=chars)
        if len(text) <= limit:
            return text
    return text[: limit - 1] + "…"


# --- terminal preview ----------------------------------------------------------------------------


def render_preview(digest: Digest) -> str:
    """Markdown-ish text for a terminal: headings with #, bullets with -, nothing hidden."""
    lab = labels(digest.language)
    lang = digest.language
    out = [f"# {lab['title'].format(team=clean(digest.team))}", "", period_text(digest)]
    if digest.late:
        out += ["", f"> {_late_text(digest)}"]
    if not digest.campaigns:
        out += ["", lab["no_campaign"]]
    for c in digest.campaigns:
        out += ["", f"## {one_line(campaign_title(c, lang), 300)}", ""]
        out += [f"- {line}" for line in stat_lines(c, digest)]
        if not c.new_items:
            out += ["", lab["nothing"]]
            continue
        if not c.breakdown:
            out += ["", lab["no_breakdown"].format(minimum=c.min_respondents)]
            continue
        for s in c.sections:
            if s.part and not same_heading(s.part, s.heading):
                out += ["", f"### {one_line(s.part, 300)}"]
            out += ["", f"#### {one_line(s.heading, 300)} ({section_count(s, lang)})", ""]
            if s.withheld:
                out.append(f"*{withheld_text(c, lang)}*")
                continue
            out += [f"- {one_line(item, 10_000)}" for item in s.items]
            if s.more:
                out.append(f"- {more_text(s.more, lang)}")
            themes = themes_text(s, lang)
            if themes:
                out += ["", f"*{themes}*"]
            trends = trend_lines(s, lang)
            if trends:
                out += ["", *trends]
        for link in c.links:
            out += ["", f"### {one_line(link.heading, 300)}", ""]
            out += [f"- {one_line(line, 10_000)}" for line in link.lines]
    out += ["", "---", lab["footer"].format(date=_date(digest.generated_at.date(), lang))]
    return "\n".join(out) + "\n"


# --- HTML e-mail ---------------------------------------------------------------------------------


def render_html(
    digest: Digest,
    chart_cids: Mapping[str, str] | None = None,
    theme_cids: Mapping[str, str] | None = None,
) -> str:
    """The e-mail body; ``chart_cids`` maps a campaign slug to the Content-ID of its chart,
    ``theme_cids`` to that of its themes' chart (:mod:`qn_bot.digest.theme_chart`)."""
    lab = labels(digest.language)
    lang = digest.language
    cids = chart_cids or {}
    themed = theme_cids or {}
    campaigns = []
    for c in digest.campaigns:
        message = None
        if not c.new_items:
            message = lab["nothing"]
        elif not c.breakdown:
            message = lab["no_breakdown"].format(minimum=c.min_respondents)
        sections = []
        if c.breakdown:
            for s in c.sections:
                sections.append(
                    {
                        "part": clean(s.part)
                        if s.part and not same_heading(s.part, s.heading)
                        else None,
                        "heading": clean(s.heading),
                        "count": section_count(s, lang),
                        "bullets": [clean(item).strip() for item in s.items],
                        "more": more_text(s.more, lang) if s.more else None,
                        "themes": themes_text(s, lang),
                        "trends": trend_lines(s, lang),
                        "withheld": withheld_text(c, lang) if s.withheld else None,
                    }
                )
        campaigns.append(
            {
                "title": clean(campaign_title(c, lang)),
                "stats": stat_lines(c, digest),
                "cid": cids.get(c.slug),
                "theme_cid": themed.get(c.slug),
                "message": message,
                "sections": sections,
                "links": [
                    {"heading": clean(link.heading), "lines": [clean(x) for x in link.lines]}
                    for link in c.links
                ],
            }
        )
    return (
        templates()
        .get_template("digest_email.html.j2")
        .render(
            d=digest,
            lab=lab,
            subject=subject(digest),
            title=lab["title"].format(team=clean(digest.team)),
            period=period_text(digest),
            late=_late_text(digest) if digest.late else None,
            campaigns=campaigns,
            footer=lab["footer"].format(date=_date(digest.generated_at.date(), lang)),
        )
    )
