"""The synthesis model and its exports: page shape, escaping, the CSV/JSON contract, no leaks."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from qn_bot.disclosure import Disclosure
from qn_bot.domain import Address, CampaignStatus, UserRef
from qn_bot.errors import CampaignError
from qn_bot.export import (
    FIELDS,
    md_escape,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    revision_history,
)
from qn_bot.exporters import export_campaign
from qn_bot.flows.format import Flow, StepKind
from qn_bot.flows.loader import load_flow_text
from qn_bot.records import CampaignRecord, ItemRecord, RevisionRecord
from qn_bot.store.migrate import upgrade
from qn_bot.store.sql import Store
from qn_bot.synthesis import (
    Section,
    Synthesis,
    build_synthesis,
    format_date_en,
    format_date_fr,
)

NOW = datetime(2015, 4, 18, 9, 30, tzinfo=UTC)
T0 = datetime(2015, 4, 10, 8, 0, tzinfo=UTC)

FLOW_TOML = """
id = "mini"
version = 1
languages = ["fr", "en"]
title = { fr = "Mini parcours", en = "Mini flow" }

[[steps]]
id = "bienvenue"
kind = "info"
part = { fr = "1 – Pourquoi tout va changer ?", en = "1 – Why is everything changing?" }
prompt = { fr = "Bienvenue !", en = "Welcome!" }

[[steps]]
id = "accord"
kind = "consent"
prompt = { fr = "D'accord ?", en = "Agreed?" }

[[steps]]
id = "pourquoi"
kind = "list"
section = { fr = "Pourquoi tout va changer ?", en = "Why is everything changing?" }
prompt = { fr = "Pourquoi ?", en = "Why?" }

[[steps]]
id = "meurt"
kind = "list"
part = { fr = "Quels faits déclencheurs ?", en = "Which triggers?" }
section = { fr = "Ce qui meurt", en = "What is dying" }
prompt = { fr = "Qu'est-ce qui meurt ?", en = "What is dying?" }

[[steps]]
id = "mot"
kind = "text"
prompt = { fr = "Un mot pour finir ?", en = "A last word?" }

[[steps]]
id = "moyens"
kind = "multichoice"
part = { fr = "Avec quels moyens ?", en = "With which means?" }
prompt = { fr = "Avec quels moyens ?", en = "With which means?" }

[[steps.choices]]
id = "juridiques"
label = { fr = "Des moyens juridiques", en = "Legal means" }

[[steps.choices]]
id = "financement"
label = { fr = "Des modes de financement", en = "Ways of funding" }

[[steps.choices]]
id = "lexicaux"
label = { fr = "Des moyens lexicaux", en = "Lexical means" }

[[steps]]
id = "priorite"
kind = "choice"
prompt = { fr = "Priorité ?", en = "Priority?" }
section = { fr = "Priorité", en = "Priority" }

[[steps.choices]]
id = "vite"
label = { fr = "Agir vite", en = "Act fast" }

[[steps.choices]]
id = "bien"
label = { fr = "Agir bien", en = "Act well" }

[[steps]]
id = "note"
kind = "scale"
min = 1
max = 5
prompt = { fr = "Votre optimisme, de 1 à 5 ?", en = "Your optimism, 1 to 5?" }
section = { fr = "Optimisme", en = "Optimism" }

[[steps]]
id = "acteurs"
kind = "list"
part = { fr = "Avec quels moyens ?", en = "With which means?" }
section = { fr = "Avec quels acteurs ?", en = "With which actors?" }
prompt = { fr = "Avec quels acteurs ?", en = "With which actors?" }

[[steps]]
id = "merci"
kind = "info"
prompt = { fr = "Merci !", en = "Thanks!" }
"""

HOSTILE = "# titre *gras* [lien](http://x)"
SCRIPT = "<script>alert(1)</script>"
TRICKY = [
    SCRIPT,
    "Tom &amp; Jerry & \"Co\" 'quotes'",
    "مرحبا بالعالم — שלום",
    "Bravo 🎉👩🏽‍🔬",
    '=HYPERLINK("http://evil")',
    "- une liste\n  1. numérotée\n---",
]
SECRET_USER_ID = "telegram-user-987654321"


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow_text(FLOW_TOML, "mini.toml")


def campaign(flow: Flow, edition: str | None = "Think Small 2016-2017") -> CampaignRecord:
    return CampaignRecord(
        id=1,
        slug="mini-2030",
        title="Construire 2030",
        edition=edition,
        flow_id=flow.id,
        flow_version=flow.version,
        flow_source=flow.source,
        status=CampaignStatus.OPEN,
        opens_at=None,
        closes_at=None,
        created_at=T0,
        updated_at=T0,
    )


_ids = iter(range(1, 10_000))
_participants: dict[str, int] = {}


def item(
    step: str,
    text: str,
    value: object = None,
    who: str = "P-AAAA",
    at: datetime = T0,
    revision: int = 1,
    *,
    participant: int | None = None,
    signature: str | None = None,
) -> ItemRecord:
    n = next(_ids)
    return ItemRecord(
        id=n,
        campaign_slug="mini-2030",
        participant_id=(
            participant
            if participant is not None
            else _participants.setdefault(who, len(_participants) + 1)
        ),
        pseudonym=who,
        signature=signature,
        step_id=step,
        seq=n,
        text=text,
        value=value,
        revision=revision,
        created_at=at,
        updated_at=at + timedelta(minutes=revision - 1),
    )


@pytest.fixture
def items() -> list[ItemRecord]:
    return [
        item("pourquoi", "Révolution numérique"),
        item("pourquoi", "Bottom up/ top down", who="P-BBBB"),
        item("pourquoi", "Révolution numérique", who="P-CCCC"),  # duplicates are kept
        item(
            "moyens",
            "Des moyens juridiques, Des modes de financement",
            ["juridiques", "financement"],
        ),
        item("moyens", "Des moyens juridiques", ["juridiques"], who="P-BBBB"),
        item("moyens", "Des moyens juridiques", ("juridiques",), who="P-CCCC"),
        item("priorite", "Agir vite", "vite", who="P-BBBB"),
        item("note", "2", 2),
        item("note", "5", 5, who="P-BBBB"),
        item("note", "4", 4, who="P-CCCC"),
        item(
            "acteurs",
            "Chercheurs - citoyens, forums hybrides",
            at=datetime(2015, 4, 17, 23, 59, tzinfo=UTC),
        ),
    ]


def synth(
    flow: Flow, items: list[ItemRecord], language: str = "fr", participants: int = 3
) -> Synthesis:
    # Participants are counted by the store (qn_bot.participants); three people answer here.
    return build_synthesis(campaign(flow), flow, items, language, NOW, participants=participants)


def texts(section: Section) -> tuple[str, ...]:
    return tuple(b.text for b in section.bullets)


# --- the model --------------------------------------------------------------------------------


def test_sections_follow_the_flow_and_skip_info_and_consent(
    flow: Flow, items: list[ItemRecord]
) -> None:
    s = synth(flow, list(reversed(items)))
    assert [x.step_id for x in s.sections] == [
        "pourquoi",
        "meurt",
        "mot",
        "moyens",
        "priorite",
        "note",
        "acteurs",
    ]
    assert [x.kind for x in s.sections][:3] == [StepKind.LIST, StepKind.LIST, StepKind.TEXT]
    assert s.title == "Construire 2030"
    assert s.flow_title == "Mini parcours"
    assert s.edition == "Think Small 2016-2017"
    assert s.participants == 3
    assert s.updated_at == datetime(2015, 4, 17, 23, 59, tzinfo=UTC)
    assert s.generated_at == NOW


def test_parts_show_where_they_change_even_when_declared_on_an_info_step(
    flow: Flow, items: list[ItemRecord]
) -> None:
    parts = {x.step_id: x.part for x in synth(flow, items).sections}
    assert parts == {
        "pourquoi": "1 – Pourquoi tout va changer ?",
        "meurt": "Quels faits déclencheurs ?",
        "mot": None,
        "moyens": "Avec quels moyens ?",
        "priorite": None,
        "note": None,
        "acteurs": None,  # the same part repeated is not shown twice
    }


def test_headings_use_section_else_prompt(flow: Flow, items: list[ItemRecord]) -> None:
    headings = {x.step_id: x.heading for x in synth(flow, items, "en").sections}
    assert headings["pourquoi"] == "Why is everything changing?"
    assert headings["mot"] == "A last word?"
    assert headings["moyens"] == "With which means?"


def test_list_bullets_keep_answer_order_and_count_duplicates(
    flow: Flow, items: list[ItemRecord]
) -> None:
    s = synth(flow, items)
    # The same answer twice is one bullet counted twice (it was two bullets before).
    assert [(b.text, b.count) for b in s.sections[0].bullets] == [
        ("Révolution numérique", 2),
        ("Bottom up/ top down", 1),
    ]


def test_empty_sections_are_kept_without_bullets(flow: Flow, items: list[ItemRecord]) -> None:
    sections = {x.step_id: x for x in synth(flow, items).sections}
    assert sections["meurt"].bullets == ()
    assert sections["mot"].bullets == ()
    empty = synth(flow, [], participants=0)
    assert len(empty.sections) == 7
    assert all(x.bullets == () for x in empty.sections)
    assert empty.participants == 0
    assert empty.updated_at == T0  # the campaign's own date when nobody answered yet


def test_choice_counts_in_choice_order_unpicked_omitted(
    flow: Flow, items: list[ItemRecord]
) -> None:
    fr = {x.step_id: texts(x) for x in synth(flow, items).sections}
    assert fr["moyens"] == ("Des moyens juridiques (3)", "Des modes de financement (1)")
    assert fr["priorite"] == ("Agir vite (1)",)
    en = {x.step_id: texts(x) for x in synth(flow, items, "en").sections}
    assert en["moyens"] == ("Legal means (3)", "Ways of funding (1)")


def test_scale_summary(flow: Flow, items: list[ItemRecord]) -> None:
    fr = {x.step_id: texts(x) for x in synth(flow, items).sections}
    assert fr["note"] == ("3 réponses · moyenne 3,67 · min 2 · max 5",)
    en = {x.step_id: texts(x) for x in synth(flow, items, "en").sections}
    assert en["note"] == ("3 answers · mean 3.67 · min 2 · max 5",)


def test_dates_in_both_languages() -> None:
    assert format_date_fr(date(2015, 4, 17)) == "17 avril 2015"
    assert format_date_en(date(2015, 4, 17)) == "17 April 2015"
    assert format_date_fr(date(2016, 2, 1)) == "1er février 2016"
    assert format_date_en(date(2016, 8, 1)) == "1 August 2016"
    assert format_date_fr(date(2016, 12, 31)) == "31 décembre 2016"


def squash(text: str) -> str:
    return " ".join(text.split())  # no-break spaces too


def test_sections_below_the_threshold_show_their_count_only(
    flow: Flow, items: list[ItemRecord]
) -> None:
    """Public outputs: a section answered by fewer people than the threshold shows how many
    answers it holds, never the answers, even when the campaign has enough participants."""
    disclosure = Disclosure(
        minimum=3,
        respondents={"pourquoi": 3, "moyens": 3, "priorite": 1, "note": 3, "acteurs": 1},
    )
    for language in ("fr", "en"):
        s = build_synthesis(
            campaign(flow), flow, items, language, NOW, participants=3, disclosure=disclosure
        )
        sections = {x.step_id: x for x in s.sections}
        assert sections["pourquoi"].bullets[0].text == "Révolution numérique"
        assert not sections["pourquoi"].withheld
        for step_id in ("priorite", "acteurs"):
            assert sections[step_id].withheld
            assert sections[step_id].bullets == ()
            assert sections[step_id].count == 1
        assert not sections["meurt"].withheld  # nothing to withhold: it says it is empty
        md, html = render_markdown(s), render_html(s)
        for page in (md, html):
            assert "Agir vite" not in page
            assert "Act fast" not in page
            assert "Chercheurs" not in page
            assert "Révolution numérique" in page
    md_fr = squash(render_markdown(synth_with(flow, items, disclosure, "fr")))
    assert "1 contribution — moins de 3 participants ont répondu ici : le détail" in md_fr
    assert "1 réponse — moins de 3 participants ont répondu ici" in md_fr
    md_en = squash(render_markdown(synth_with(flow, items, disclosure, "en")))
    assert "1 contribution — fewer than 3 participants answered here" in md_en
    assert "1 answer — fewer than 3 participants answered here" in md_en


def test_without_a_threshold_everything_shows(flow: Flow, items: list[ItemRecord]) -> None:
    """Facilitator exports: the data controller's copy holds every answer."""
    s = synth(flow, items)
    assert not any(x.withheld for x in s.sections)
    assert "Agir vite" in render_markdown(s)
    assert "moins de" not in render_markdown(s)


def synth_with(
    flow: Flow, items: list[ItemRecord], disclosure: Disclosure, language: str
) -> Synthesis:
    return build_synthesis(
        campaign(flow), flow, items, language, NOW, participants=3, disclosure=disclosure
    )


# --- Markdown ---------------------------------------------------------------------------------


def test_markdown_has_the_seed_shape(flow: Flow, items: list[ItemRecord]) -> None:
    md = render_markdown(synth(flow, items))
    lines = md.splitlines()
    assert lines[0] == "Questions Numériques — édition Think Small 2016-2017"
    assert "# Construire 2030" in lines
    assert "Dernière mise à jour le 17 avril 2015" in lines
    order = [
        "## 1 – Pourquoi tout va changer ?",  # its section's same title is not repeated
        "- Révolution numérique (×2)",
        "## Quels faits déclencheurs ?",
        "### Ce qui meurt",
        "### Un mot pour finir ?",
        "## Avec quels moyens ?",
        "- Des moyens juridiques (3)",
        "### Priorité",
        "### Optimisme",
        "### Avec quels acteurs ?",
        "- Chercheurs - citoyens, forums hybrides",
    ]
    positions = [lines.index(x) for x in order]
    assert positions == sorted(positions)
    # A part whose text is the section's own heading is not printed twice.
    assert "### Avec quels moyens ?" not in lines
    assert md.count("## Avec quels moyens ?") == 1


def test_markdown_in_english(flow: Flow, items: list[ItemRecord]) -> None:
    md = render_markdown(synth(flow, items, "en"))
    assert "Last updated on 17 April 2015" in md.splitlines()
    assert "- Legal means (3)" in md.splitlines()


def test_markdown_without_edition(flow: Flow) -> None:
    s = build_synthesis(campaign(flow, edition=None), flow, [], "fr", NOW, participants=0)
    assert render_markdown(s).startswith("# Construire 2030\n")


def test_markdown_escapes_participant_text(flow: Flow) -> None:
    md = render_markdown(synth(flow, [item("pourquoi", HOSTILE)]))
    assert "- \\# titre \\*gras\\* \\[lien\\](http://x)" in md.splitlines()
    assert md_escape(HOSTILE) == "\\# titre \\*gras\\* \\[lien\\](http://x)"


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("1. pas une liste", "1\\. pas une liste"),
        ("2) non plus", "2\\) non plus"),
        ("3.5 millions", "3.5 millions"),
        ("- tiret", "\\- tiret"),
        ("+ plus", "\\+ plus"),
        ("===", "\\==="),
        ("> citation", "\\> citation"),
        ("a_b_c `code` ~~barré~~ | table", "a\\_b\\_c \\`code\\` \\~\\~barré\\~\\~ \\| table"),
        ("![img](x)", "\\!\\[img\\](x)"),
        ("{: .cls} <b>", "\\{: .cls\\} \\<b\\>"),
        ("back\\slash", "back\\\\slash"),
        ("&amp; et R&D", "\\&amp; et R&D"),
        ("Bottom up/ top down - de bas en haut !", "Bottom up/ top down - de bas en haut !"),
    ],
)
def test_md_escape(raw: str, escaped: str) -> None:
    assert md_escape(raw) == escaped


def test_markdown_multiline_items_are_continuation_lines(flow: Flow) -> None:
    text = "Le territoire avance à petits pas\n> capacité\n\n    # fortitude ?"
    md = render_markdown(synth(flow, [item("pourquoi", text)]))
    assert "- Le territoire avance à petits pas\n  \\> capacité\n  \\# fortitude ?\n" in md
    assert "<br" not in md


def test_markdown_escapes_facilitator_text_too(flow: Flow) -> None:
    record = campaign(flow)
    hostile = CampaignRecord(
        id=record.id,
        slug=record.slug,
        title="Titre *gras* #1 #",
        edition="[x](y)",
        flow_id=record.flow_id,
        flow_version=record.flow_version,
        flow_source=record.flow_source,
        status=record.status,
        opens_at=None,
        closes_at=None,
        created_at=T0,
        updated_at=T0,
    )
    md = render_markdown(build_synthesis(hostile, flow, [], "fr", NOW, participants=0))
    assert "# Titre \\*gras\\* \\#1 \\#" in md.splitlines()
    assert "Questions Numériques — édition \\[x\\](y)" in md.splitlines()


# --- HTML -------------------------------------------------------------------------------------


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.texts: list[str] = []
        self.li: list[str] = []
        self.attrs: dict[str, dict[str, str | None]] = {}
        self._in_li = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.setdefault(tag, dict(attrs))
        if tag == "li":
            self._in_li = True
            self.li.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self._in_li = False

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._in_li:
            self.li[-1] += data


def parse(html: str) -> Collector:
    collector = Collector()
    collector.feed(html)
    collector.close()
    return collector


def test_html_is_a_standalone_document(flow: Flow, items: list[ItemRecord]) -> None:
    html = render_html(synth(flow, items))
    assert html.lower().startswith("<!doctype html>")
    page = parse(html)
    assert page.attrs["html"]["lang"] == "fr"
    assert page.attrs["meta"]["charset"] == "utf-8"
    assert "style" in page.tags
    assert "script" not in page.tags
    texts = [t.strip() for t in page.texts]
    assert "Questions Numériques — édition Think Small 2016-2017" in texts
    assert "Dernière mise à jour le 17 avril 2015" in texts
    assert "Des moyens juridiques (3)" in page.li
    assert "<details" not in html  # no history unless revisions are given
    assert parse(render_html(synth(flow, items, "en"))).attrs["html"]["lang"] == "en"
    assert "Last updated on 17 April 2015" in render_html(synth(flow, items, "en"))


def test_html_headings_in_flow_order(flow: Flow, items: list[ItemRecord]) -> None:
    html = render_html(synth(flow, items))
    order = [
        "<h1>Construire 2030</h1>",
        "<h2>1 – Pourquoi tout va changer ?</h2>",
        "<h2>Quels faits déclencheurs ?</h2>",
        "<h3>Ce qui meurt</h3>",
        "<h2>Avec quels moyens ?</h2>",
        "<h3>Avec quels acteurs ?</h3>",
    ]
    positions = [html.index(x) for x in order]
    assert positions == sorted(positions)
    assert "<h3>Avec quels moyens ?</h3>" not in html


def test_html_escapes_everything_a_participant_wrote(flow: Flow) -> None:
    texts = [*TRICKY, HOSTILE]
    html = render_html(synth(flow, [item("pourquoi", t) for t in texts]))
    page = parse(html)
    assert "script" not in page.tags
    assert "<script" not in html.lower()
    assert page.li == texts  # the text nodes hold exactly what was written
    assert "&amp;amp;" in html


def test_signed_bullets_show_their_signature_escaped_in_md_and_html(flow: Flow) -> None:
    signature = "<b>Ana</b> *L* [x](y) @room"
    items = [
        item("pourquoi", "une idée signée", who="P-SIGN", signature=signature),
        item("pourquoi", "une idée anonyme", who="P-ANON"),
        item("moyens", "Des moyens juridiques", ["juridiques"], who="P-SIGN", signature=signature),
    ]
    s = synth(flow, items)
    md = render_markdown(s).splitlines()
    assert "- une idée signée — \\<b\\>Ana\\</b\\> \\*L\\* \\[x\\](y) @room" in md
    assert "- une idée anonyme" in md
    assert "- Des moyens juridiques (1)" in md  # counts name nobody
    html = render_html(s)
    page = parse(html)
    assert page.li[:2] == [f"une idée signée — {signature}", "une idée anonyme"]
    assert "<b>Ana" not in html
    assert "P-SIGN" not in html
    assert "P-ANON" not in html
    assert "P-SIGN" not in render_markdown(s)


def test_participants_are_counted_by_id_never_by_the_name_shown(flow: Flow) -> None:
    same_name = [
        item("pourquoi", "un", who="P-1111", participant=101, signature="Ana"),
        item("pourquoi", "deux", who="P-2222", participant=102, signature="Ana"),
        item("pourquoi", "trois", who="Ana", participant=103),
        item("mot", "quatre", who="P-1111", participant=101, signature="Ana"),
    ]
    assert synth(flow, same_name).participants == 3


def test_html_escapes_facilitator_text(flow: Flow) -> None:
    record = campaign(flow)
    hostile = CampaignRecord(
        id=record.id,
        slug=record.slug,
        title=SCRIPT,
        edition='"><img src=x onerror=alert(1)>',
        flow_id=record.flow_id,
        flow_version=record.flow_version,
        flow_source=record.flow_source,
        status=record.status,
        opens_at=None,
        closes_at=None,
        created_at=T0,
        updated_at=T0,
    )
    page = parse(render_html(build_synthesis(hostile, flow, [], "fr", NOW, participants=0)))
    assert "script" not in page.tags
    assert "img" not in page.tags
    assert SCRIPT in page.texts


def revisions() -> list[RevisionRecord]:
    d1 = datetime(2015, 4, 16, 10, tzinfo=UTC)
    d2 = datetime(2015, 4, 17, 23, 30, tzinfo=UTC)
    return [
        RevisionRecord(1, 1, "secret draft one", False, d1),
        RevisionRecord(2, 1, "secret draft two", False, d1),
        RevisionRecord(1, 2, "secret edit", False, d2),
        RevisionRecord(2, 2, "secret draft two", True, d2),
        RevisionRecord(3, 1, "secret new", False, d2),
    ]


def test_revision_history_counts_per_day() -> None:
    rows = revision_history(revisions())
    assert [(r.day, r.created, r.revised, r.deleted) for r in rows] == [
        (date(2015, 4, 17), 1, 1, 1),
        (date(2015, 4, 16), 2, 0, 0),
    ]


def test_html_history_is_collapsible_and_holds_no_text(flow: Flow) -> None:
    html = render_html(synth(flow, []), revisions())
    page = parse(html)
    assert "details" in page.tags
    assert "summary" in page.tags
    assert "Historique des versions" in page.texts
    assert "17 avril 2015" in page.texts
    assert "secret" not in html
    assert html.index("<details") > html.index("</main>")
    empty = render_html(synth(flow, []), [])
    assert "<details" in empty


# --- CSV and JSON -----------------------------------------------------------------------------


def test_json_one_object_per_item_with_the_contract_keys(
    flow: Flow, items: list[ItemRecord]
) -> None:
    rows = json.loads(render_json(items, flow, "fr"))
    assert isinstance(rows, list)
    assert len(rows) == len(items)
    assert all(list(r) == list(FIELDS) for r in rows)
    assert set(FIELDS) == {
        "campaign",
        "participant",
        "step",
        "section",
        "text",
        "revision",
        "created_at",
        "updated_at",
        "hidden",  # README "Closing the loop": moderation marks, exports keep
    }
    first = rows[0]
    assert first == {
        "campaign": "mini-2030",
        "participant": "P-AAAA",
        "step": "pourquoi",
        "section": "Pourquoi tout va changer ?",
        "text": "Révolution numérique",
        "revision": 1,
        "created_at": "2015-04-10T08:00:00+00:00",
        "updated_at": "2015-04-10T08:00:00+00:00",
        "hidden": False,
    }
    assert rows[3]["section"] == "Avec quels moyens ?"  # no section: the prompt heads it
    assert json.loads(render_json(items, flow, "en"))[0]["section"] == "Why is everything changing?"


def test_json_keeps_text_exactly_and_unescaped(flow: Flow) -> None:
    texts = [*TRICKY, HOSTILE]
    out = render_json([item("pourquoi", t) for t in texts], flow, "fr")
    assert "🎉" in out  # ensure_ascii=False
    assert "\n  {" in out  # indent=2
    assert [r["text"] for r in json.loads(out)] == texts


def test_json_dates_are_utc(flow: Flow) -> None:
    paris = datetime(2015, 4, 17, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))
    row = json.loads(render_json([item("pourquoi", "x", at=paris)], flow, "fr"))[0]
    assert row["created_at"] == "2015-04-17T12:00:00+00:00"


def test_csv_one_row_per_item_with_header(flow: Flow, items: list[ItemRecord]) -> None:
    text = render_csv(items, flow, "fr")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(FIELDS)
    assert len(rows) == len(items) + 1
    records = list(csv.DictReader(io.StringIO(text)))
    assert records[0]["participant"] == "P-AAAA"
    assert records[0]["revision"] == "1"


def test_csv_guards_against_formula_injection(flow: Flow) -> None:
    texts = ["=1+1", "+33 6", "-2", "@SUM(A1)", "\t=cmd", "ok = fine", 'Multi\nline, "quoted"']
    records = list(
        csv.DictReader(io.StringIO(render_csv([item("pourquoi", t) for t in texts], flow, "fr")))
    )
    assert [r["text"] for r in records] == [
        "'=1+1",
        "'+33 6",
        "'-2",
        "'@SUM(A1)",
        "'\t=cmd",
        "ok = fine",
        'Multi\nline, "quoted"',
    ]


def test_rows_for_steps_the_flow_no_longer_has_are_kept(flow: Flow) -> None:
    rows = json.loads(render_json([item("ancienne", "x")], flow, "fr"))
    assert rows[0]["step"] == "ancienne"
    assert rows[0]["section"] == ""


# --- export_campaign through a real SQLite store -----------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    url = f"sqlite:///{tmp_path / 'qn.db'}"
    await upgrade(url)
    return Store.from_url(url)


async def fill(store: Store, flow: Flow) -> None:
    async with store.transaction() as tx:
        c = await tx.campaigns.create_campaign(
            slug="mini-2030",
            title="Construire 2030",
            flow_id=flow.id,
            flow_version=flow.version,
            flow_source=flow.source,
            now=T0,
            edition="Think Small 2016-2017",
            status=CampaignStatus.OPEN,
        )
        user = UserRef("telegram", SECRET_USER_ID)
        p = await tx.participants.create_participant(
            user,
            Address("telegram", "chat-" + SECRET_USER_ID),
            T0,
            language="fr",
            pseudonym_factory=lambda: "P-SAFE",
        )
        session = await tx.sessions.save_session(
            p.id, c.id, {}, T0, status="active", step_id="pourquoi"
        )
        for seq, (step, text, value) in enumerate(
            [
                ("pourquoi", "Révolution numérique", None),
                ("pourquoi", SCRIPT, None),
                ("pourquoi", "à effacer", None),
                ("moyens", "Des moyens juridiques", ["juridiques"]),
            ],
            start=1,
        ):
            await tx.sessions.add_item(
                session_id=session,
                campaign_id=c.id,
                participant_id=p.id,
                seq=seq,
                step_id=step,
                text=text,
                value=value,
                now=T0,
            )
        later = T0 + timedelta(days=1)
        await tx.sessions.revise_item(
            session_id=session,
            seq=1,
            revision=2,
            text="Révolution numérique !",
            value=None,
            now=later,
        )
        await tx.sessions.delete_item(session_id=session, seq=3, now=later)


@pytest.mark.parametrize("fmt", ["md", "html", "csv", "json"])
async def test_export_campaign_formats(store: Store, flow: Flow, fmt: str) -> None:
    await fill(store, flow)
    async with store.transaction() as tx:
        out = await export_campaign(tx, "mini-2030", fmt, None, NOW)
    await store.close()
    assert SECRET_USER_ID not in out
    assert "telegram" not in out
    assert "à effacer" not in out  # deleted items leave every export
    if fmt in ("csv", "json"):
        assert "P-SAFE" in out
    else:
        assert "P-SAFE" not in out  # the page shows no pseudonym either
    if fmt == "json":
        rows = json.loads(out)
        assert [r["text"] for r in rows] == [
            "Révolution numérique !",
            SCRIPT,
            "Des moyens juridiques",
        ]
        assert rows[0]["revision"] == 2
        assert rows[0]["updated_at"] == "2015-04-11T08:00:00+00:00"
    if fmt == "md":
        assert "Dernière mise à jour le 11 avril 2015" in out
        assert "- Des moyens juridiques (1)" in out
    if fmt == "html":
        page = parse(out)
        assert "script" not in page.tags
        assert SCRIPT in page.li
        assert "Historique des versions" in page.texts
        assert "Révolution numérique" not in out.split("<details")[1]


async def test_export_campaign_language(store: Store, flow: Flow) -> None:
    await fill(store, flow)
    async with store.transaction() as tx:
        english = await export_campaign(tx, "mini-2030", "md", "en", NOW)
        unknown = await export_campaign(tx, "mini-2030", "md", "de", NOW)
    await store.close()
    assert "Last updated on 11 April 2015" in english
    assert "Dernière mise à jour le 11 avril 2015" in unknown  # the flow's default language


async def test_export_unknown_campaign(store: Store) -> None:
    async with store.transaction() as tx:
        with pytest.raises(CampaignError, match="nope"):
            await export_campaign(tx, "nope", "md", None, NOW)
    await store.close()


def test_csv_for_a_french_locale_spreadsheet(flow: Flow) -> None:
    texts = ["Un; deux", 'Multi\nline, "quoted"', "é à ç"]
    chosen = [item("pourquoi", t) for t in texts]
    plain = render_csv(chosen, flow, "fr")
    assert not plain.startswith("\ufeff")
    assert plain.splitlines()[0] == ",".join(FIELDS)  # RFC 4180 stays the default
    assert "\r\n" in plain
    excel = render_csv(chosen, flow, "fr", dialect="excel-fr")
    # Excel reads UTF-8 only after a byte order mark; a French locale splits cells at ";".
    assert excel.startswith("\ufeff")
    assert excel[1:].splitlines()[0] == ";".join(FIELDS)
    rows = list(csv.DictReader(io.StringIO(excel[1:]), delimiter=";"))
    assert [r["text"] for r in rows] == texts
    with pytest.raises(ValueError, match="excel-fr"):
        render_csv(chosen, flow, "fr", dialect="tsv")


# --- what a reader sees once (issue 13 item 11) ------------------------------------------------


def test_identical_items_are_shown_once_with_their_count(flow: Flow) -> None:
    items = [
        item("pourquoi", "Les tiers-lieux", who="P-A", signature="Marie"),
        item("pourquoi", "Des circuits courts", who="P-B"),
        item("pourquoi", "les Tiers lieux !", who="P-C"),
        item("pourquoi", "  LES TIERS-LIEUX", who="P-D", signature="Marie"),
        item("pourquoi", "Les tiers lieux à la campagne", who="P-E"),
        item("pourquoi", "Les tiérs-lieux", who="P-F", signature="Paul"),
    ]
    section = synth(flow, items).sections[0]
    # The first wording stands for all; the order is that of the first occurrences.
    assert [(b.text, b.count) for b in section.bullets] == [
        ("Les tiers-lieux", 4),
        ("Des circuits courts", 1),
        ("Les tiers lieux à la campagne", 1),
    ]
    assert section.bullets[0].signature == "Marie, Paul"
    assert section.bullets[0].signed == 3  # of 4: one of them is unsigned
    assert section.count == 6  # answers, as before
    s = synth(flow, items)
    assert "- Les tiers-lieux (×4, dont 3 signées Marie, Paul)\n" in render_markdown(s)
    assert "- Des circuits courts\n" in render_markdown(s)
    html = render_html(s)
    assert (
        'Les tiers-lieux <span class="repeat">(×4, dont 3 signées '
        '<bdi class="signature">Marie, Paul</bdi>)</span>'
    ) in html


def test_merged_answers_say_how_many_of_them_are_signed(flow: Flow) -> None:
    """« (×3) — Marie » read as if Marie had written all three: say what is true."""
    items = [
        item("pourquoi", "Des arbres", who="P-A", signature="Marie*"),
        item("pourquoi", "des arbres", who="P-B"),
        item("pourquoi", "Des arbres !", who="P-C"),
        item("pourquoi", "Du vélo", who="P-D", signature="Paul"),
        item("pourquoi", "du vélo", who="P-E", signature="Léa"),
        item("pourquoi", "Un parc", who="P-F", signature="Ana"),
    ]
    french = render_markdown(synth(flow, items))
    assert "- Des arbres (×3, dont une signée Marie\\*)\n" in french
    assert "- Du vélo (×2) — Paul, Léa\n" in french  # every one of them signed
    assert "- Un parc — Ana\n" in french
    english = synth(flow, items, language="en")
    assert "- Des arbres (×3, one signed by Marie\\*)\n" in render_markdown(english)
    html = render_html(english)
    assert (
        'Des arbres <span class="repeat">(×3, one signed by '
        '<bdi class="signature">Marie*</bdi>)</span>'
    ) in html
    assert '<span class="repeat">(×2)</span> <span class="signature">— <bdi>Paul, Léa</bdi>' in html
    two = [*items, item("pourquoi", "des ARBRES", who="P-G", signature="Zoé")]
    assert "- Des arbres (×4, dont 2 signées Marie\\*, Zoé)\n" in render_markdown(synth(flow, two))


def test_a_part_heading_is_not_repeated_as_the_first_section_title(flow: Flow) -> None:
    s = synth(flow, [item("pourquoi", "x")])
    md = render_markdown(s)
    # "1 – Pourquoi tout va changer ?" (the part) then "Pourquoi tout va changer ?" (the step)
    # read as the same title twice.
    assert "## 1 – Pourquoi tout va changer ?" in md
    assert "### Pourquoi tout va changer" not in md
    html = render_html(s)
    assert "<h2>1 – Pourquoi tout va changer ?</h2>" in html
    assert "<h3>Pourquoi tout va changer ?</h3>" not in html
    assert "<h3>Ce qui meurt</h3>" in html  # a different title stays


def test_the_english_page_is_english_throughout(flow: Flow, items: list[ItemRecord]) -> None:
    disclosure = Disclosure(3, {"pourquoi": 3, "meurt": 1})
    s = build_synthesis(
        campaign(flow), flow, [*items, item("meurt", "x")], "en", NOW, participants=3,
        disclosure=disclosure,
    )  # fmt: skip
    for page in (render_markdown(s), render_html(s, [])):
        assert "Last updated on 17 April 2015" in page
        assert "Why is everything changing?" in page
        for french in (
            "Dernière",
            "édition",
            "Aucune",
            "participants ont",
            "générée",
            "Historique",
        ):
            assert french not in page, french
