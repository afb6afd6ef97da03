"""Exports of a campaign: the synthesis page (Markdown, HTML) and the raw items (CSV, JSON).

Everything a participant or facilitator wrote is treated as untrusted text: Markdown output
escapes it so it cannot create markup, HTML goes through Jinja2 with autoescape, CSV guards
against formula injection; signatures (/signer) are participant text too. Items only carry
pseudonyms and signatures, so no platform id can leak from here.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from qn_bot.flows.format import Flow
from qn_bot.flows.kinds import KINDS
from qn_bot.i18n import default_catalog
from qn_bot.records import ItemRecord, RevisionRecord
from qn_bot.synthesis import (
    Bullet,
    Section,
    Synthesis,
    format_date,
    step_heading,
    utc,
)
from qn_bot.templating import templates
from qn_bot.themes import NOT_EMBEDDED

if TYPE_CHECKING:  # the themes import numpy: the chat path reads no theme
    from qn_bot.themes.public import SectionThemes

#: The JSON export contract (docs/architecture.md); CSV uses the same columns in the same order.
FIELDS = (
    "campaign", "participant", "step", "section", "text", "revision", "created_at", "updated_at",
    "hidden",
)  # fmt: skip

# A page's labels are the catalogue's ``page_*`` keys: a rendered page is worded by the same
# catalogue as the chat, under keys of its own so that rewording a chat sentence leaves it alone.


def _labels(language: str) -> Mapping[str, str]:
    # French is qn-bot's default language (qn_bot.i18n), so other languages fall back to it.
    return default_catalog().table(language, "page_")


def _plural(language: str, key: str, count: int) -> str:
    return default_catalog().plural(language, f"page_{key}", count)


def withheld_text(s: Synthesis, section: Section) -> str:
    """What a section withheld for its few respondents says instead of its bullets."""
    key = "contributions" if KINDS[section.kind].free_text else "answers"
    return _labels(s.language)["withheld"].format(
        answers=_plural(s.language, key, section.count), minimum=s.min_respondents
    )


@dataclass(frozen=True, slots=True)
class _Page:
    """What both page renderers print, worded once so Markdown and HTML say the same."""

    edition: str | None
    title: str
    flow: str | None
    updated: str
    participants: str
    generated: str
    withheld_note: str | None  # set when a section is withheld


def _page(s: Synthesis) -> _Page:
    lab = _labels(s.language)
    withheld = any(section.withheld for section in s.sections)
    return _Page(
        edition=lab["edition"].format(edition=s.edition) if s.edition else None,
        title=s.title,
        flow=lab["flow"].format(title=s.flow_title) if s.flow_title != s.title else None,
        updated=lab["updated"].format(date=format_date(s.updated_at, s.language)),
        participants=_plural(s.language, "participants", s.participants),
        generated=lab["generated"].format(date=format_date(s.generated_at, s.language)),
        withheld_note=(
            lab["withheld_note"].format(minimum=s.min_respondents) if withheld else None
        ),
    )


# --- Markdown ---------------------------------------------------------------------------------

# Characters that are markup wherever they stand (CommonMark and GFM: emphasis, code, links,
# raw HTML, tables, strikethrough, attribute syntaxes).
_MD_INLINE = re.compile(r"[\\`*_{}\[\]<>|~]")
# "&amp;" would render as "&": escape an ampersand only where it starts an entity, so "R&D"
# stays readable.
_MD_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_MD_IMAGE = re.compile(r"!(?=\\\[)")
# At the start of a line (a bullet's text is a block start too) these open headings, lists,
# thematic breaks and setext underlines; in the middle of a line they are plain text.
_MD_LINE_START = re.compile(r"^[#+\-=]")
_MD_ORDERED = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")


def md_escape(text: str, *, heading: bool = False) -> str:
    """Escape one line of untrusted text so that Markdown shows it verbatim."""
    text = _MD_INLINE.sub(lambda m: "\\" + m.group(), text)
    text = _MD_ENTITY.sub(r"\\&", text)
    text = _MD_IMAGE.sub(r"\\!", text)
    if heading:
        # A run of "#" at the end of a heading line would be eaten as its closing sequence.
        text = text.replace("#", "\\#")
    else:
        text = _MD_LINE_START.sub(lambda m: "\\" + m.group(), text)
    return _MD_ORDERED.sub(r"\1\\\2", text)


def _lines(text: str) -> list[str]:
    # Leading spaces would turn a line into a code block, blank lines would split the item.
    return [line.strip() for line in text.splitlines() if line.strip()]


def _md_heading(text: str) -> str:
    return md_escape(" ".join(_lines(text)), heading=True)


def partly_signed(bullet: Bullet, language: str) -> tuple[str, str] | None:
    """For merged answers only some of which are signed, what comes before and after the names:
    « (×3, dont une signée » … « ) ». « (×3) — Marie » would credit Marie with all three. None
    when every one is signed (« (×2) — Marie, Paul »), or none, or the answer is one."""
    if bullet.signature is None or not 0 < bullet.signed < bullet.count:
        return None
    marker = "\x00"
    worded = default_catalog().plural(
        language, "page_repeat_signed", bullet.signed, times=bullet.count, names=marker
    )
    before, after = worded.split(marker)
    return before, after


def _md_bullet(bullet: Bullet, hidden_mark: str, language: str) -> str:
    lines = [md_escape(line) for line in _lines(bullet.text)] or [""]
    partly = partly_signed(bullet, language)
    if partly is not None:
        before, after = partly
        lines[-1] = f"{lines[-1]} {before}{md_escape(bullet.signature or '')}{after}"
    else:
        if bullet.count > 1:
            lines[-1] = f"{lines[-1]} (×{bullet.count})"
        if bullet.signature is not None:
            lines[-1] = f"{lines[-1]} — {md_escape(bullet.signature)}"
    if bullet.hidden:
        lines[-1] = f"{lines[-1]} *{md_escape(hidden_mark)}*"
    first, *rest = lines
    return "\n".join([f"- {first}".rstrip(), *(f"  {line}" for line in rest)])


def render_markdown(s: Synthesis) -> str:
    page = _page(s)
    empty = _labels(s.language)["empty"]
    blocks: list[str] = []
    if page.edition:
        blocks.append(md_escape(page.edition))
    blocks.append(f"# {_md_heading(page.title)}")
    if page.flow:
        blocks.append(md_escape(page.flow))
    blocks.append(md_escape(page.updated))
    blocks.append(md_escape(page.participants))
    if page.withheld_note:
        blocks.append(f"*{md_escape(page.withheld_note)}*")
    for section in s.sections:
        if section.part:
            blocks.append(f"## {_md_heading(section.part)}")
        # A multichoice step often has its prompt as part heading ("Avec quels moyens ?").
        if section.shows_heading:
            blocks.append(f"### {_md_heading(section.heading)}")
        if section.bullets:
            hidden = _labels(s.language)["hidden"]
            blocks.append("\n".join(_md_bullet(b, hidden, s.language) for b in section.bullets))
        elif section.withheld:
            blocks.append(f"*{md_escape(withheld_text(s, section))}*")
        else:
            blocks.append(f"*{md_escape(empty)}*")
    blocks.append("---")
    blocks.append(md_escape(page.generated))
    return "\n\n".join(blocks) + "\n"


# --- HTML -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryDay:
    day: date
    created: int
    revised: int
    deleted: int


def revision_history(revisions: list[RevisionRecord]) -> list[HistoryDay]:
    """Counts per UTC day, newest first: the page tells how it evolved, never what was said."""
    days: dict[date, list[int]] = {}
    for r in revisions:
        counts = days.setdefault(utc(r.created_at).date(), [0, 0, 0])
        counts[2 if r.deleted else 0 if r.revision <= 1 else 1] += 1
    return [HistoryDay(d, *days[d]) for d in sorted(days, reverse=True)]


def theme_lines(language: str, found: Mapping[str, SectionThemes]) -> dict[str, dict[str, object]]:
    """The words a page shows for each section's themes (:mod:`qn_bot.themes.public`)."""
    lab = _labels(language)
    out: dict[str, dict[str, object]] = {}
    for step_id, section in found.items():
        note = None
        if section.fallback_reason is not None:
            pending = section.fallback_reason == NOT_EMBEDDED
            note = lab["themes_fallback_pending" if pending else "themes_fallback"]
        out[step_id] = {
            "themes": [
                {
                    "label": t.label or lab["themes_unnamed"],
                    "unnamed": not t.label,
                    "count": _plural(language, "contributions", t.count),
                    "people": _plural(language, "themes_people", t.people),
                }
                for t in (*section.themes, *((section.others,) if section.others else ()))
            ],
            "withheld": (
                _plural(language, "themes_withheld", section.withheld) if section.withheld else None
            ),
            "note": note,
        }
    return out


def render_html(
    s: Synthesis,
    revisions: list[RevisionRecord] | None = None,
    themes: Mapping[str, SectionThemes] | None = None,
) -> str:
    """``themes``: each section's public themes (the site), shown above its bullets."""
    history = None
    if revisions is not None:
        history = [
            {
                "day": format_date(h.day, s.language),
                "iso": h.day.isoformat(),
                "created": h.created,
                "revised": h.revised,
                "deleted": h.deleted,
            }
            for h in revision_history(revisions)
        ]
    withheld = {x.step_id: withheld_text(s, x) for x in s.sections if x.withheld}
    template = templates().get_template("synthesis.html.j2")
    return template.render(
        s=s,
        page=_page(s),
        labels=_labels(s.language),
        partly_signed=lambda bullet: partly_signed(bullet, s.language),
        history=history,
        withheld=withheld,
        themes=theme_lines(s.language, themes or {}),
    )


# --- CSV and JSON -----------------------------------------------------------------------------


def _iso(d: datetime) -> str:
    return utc(d).isoformat()


def item_rows(items: list[ItemRecord], flow: Flow, language: str) -> list[dict[str, Any]]:
    """One row per item with exactly the keys of the JSON contract, in answer order."""
    headings = {step.id: step_heading(step, language) for step in flow.steps}
    return [
        {
            "campaign": item.campaign_slug,
            # Unique per participant: a signature can be neither a pseudonym nor another's.
            "participant": item.shown_as,
            "step": item.step_id,
            # A step the flow no longer has keeps its row: nothing collected is silently dropped.
            "section": headings.get(item.step_id, ""),
            "text": item.text,
            "revision": item.revision,
            "created_at": _iso(item.created_at),
            "updated_at": _iso(item.updated_at),
            # Kept out of public outputs by moderation (qn_bot.moderation).
            "hidden": item.hidden,
        }
        for item in items
    ]


# Spreadsheets run a cell starting with one of these as a formula; tab and carriage return are
# on OWASP's list too because some importers strip them and then see the formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


#: ``rfc4180``: commas, CRLF, UTF-8 without BOM (the default: what tools and scripts read).
#: ``excel-fr``: what a French-locale Excel or LibreOffice opens by double-click — cells split
#: at ";" (the locale's list separator, "," being its decimal mark) and a UTF-8 byte order
#: mark, without which Excel reads the file as Windows-1252.
CSV_DIALECTS = ("rfc4180", "excel-fr")


def render_csv(items: list[ItemRecord], flow: Flow, language: str, dialect: str = "rfc4180") -> str:
    if dialect not in CSV_DIALECTS:
        raise ValueError(f"unknown CSV dialect {dialect!r}: {' or '.join(CSV_DIALECTS)}")
    semicolons = dialect == "excel-fr"
    out = io.StringIO()
    if semicolons:
        out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=FIELDS, delimiter=";" if semicolons else ",")
    writer.writeheader()
    for row in item_rows(items, flow, language):
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return out.getvalue()


def render_json(items: list[ItemRecord], flow: Flow, language: str) -> str:
    return json.dumps(item_rows(items, flow, language), ensure_ascii=False, indent=2) + "\n"
