"""Weekly digests without any server: periods across DST, French themes, the model, rendering."""

from __future__ import annotations

import dataclasses
import datetime as dt
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from itertools import count, pairwise

from qn_bot.config import TeamConfig
from qn_bot.digest.chart import render_chart
from qn_bot.digest.model import (
    CampaignInput,
    Digest,
    SessionFact,
    Theme,
    build_digest,
    fold,
    theme_key,
    themes,
)
from qn_bot.digest.period import (
    completed_period,
    current_period,
    due_periods,
    local_occurrence,
    next_send_at,
    recent_periods,
)
from qn_bot.digest.render import (
    clean,
    render_chat_text,
    render_html,
    render_preview,
    render_text,
    subject,
)
from qn_bot.digest.send import DigestPackage
from qn_bot.domain import CampaignStatus
from qn_bot.flows.format import Flow
from qn_bot.flows.loader import load_flow_text
from qn_bot.ports import declared_capabilities
from qn_bot.records import CampaignRecord, ItemRecord

PARIS = "Europe/Paris"
TEAM = TeamConfig(name="equipe-2030", campaigns=("mini",), min_respondents=3)

FLOW_TOML = """
id = "mini"
version = 1
languages = ["fr", "en"]
title = { fr = "Mini parcours", en = "Mini flow" }

[[steps]]
id = "pourquoi"
kind = "list"
part = { fr = "1 – Pourquoi tout va changer ?", en = "1 – Why?" }
section = { fr = "Pourquoi tout va changer ?", en = "Why is everything changing?" }
prompt = { fr = "Pourquoi ?", en = "Why?" }

[[steps]]
id = "choix"
kind = "choice"
part = { fr = "Avec quels moyens ?", en = "With which means?" }
prompt = { fr = "Lesquels ?", en = "Which?" }

[[steps.choices]]
id = "a"
label = { fr = "A", en = "A" }

[[steps]]
id = "meurt"
kind = "list"
section = { fr = "Ce qui meurt", en = "What is dying" }
prompt = { fr = "Qu'est-ce qui meurt ?", en = "What is dying?" }
"""


def flow() -> Flow:
    return load_flow_text(FLOW_TOML, "mini.toml")


def campaign(
    status: CampaignStatus = CampaignStatus.OPEN, min_respondents: int = 1
) -> CampaignRecord:
    f = flow()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return CampaignRecord(
        id=1,
        slug="mini",
        title="Mini <b>campagne</b>",
        edition="Think Small 2016-2017",
        flow_id=f.id,
        flow_version=f.version,
        flow_source=f.source,
        status=status,
        opens_at=None,
        closes_at=None,
        created_at=t0,
        updated_at=t0,
        min_respondents=min_respondents,
    )


_ids = count(1)
_people: dict[str, int] = {}


def item(
    step: str, text: str, at: datetime, who: str = "P-1", person: int | None = None
) -> ItemRecord:
    """An item of ``who`` (the pseudonym); ``person`` is who it really is (by default,
    one person per pseudonym)."""
    n = next(_ids)
    if person is None:
        person = _people.setdefault(who, len(_people) + 1)
    return ItemRecord(n, "mini", person, who, step, n, text, None, 1, at, at)


# --- periods --------------------------------------------------------------------------------------


def test_completed_period_is_the_week_ending_at_the_last_send_time() -> None:
    now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday
    p = completed_period(TEAM, now)
    assert p.start == datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # Monday 09:00 in Paris (CET)
    assert p.end == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert p.key == "digest:equipe-2030:2026-11-16"
    assert current_period(TEAM, now).start == p.end
    assert next_send_at(TEAM, now) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_a_send_exactly_at_the_scheduled_time_reports_on_the_week_just_ended() -> None:
    end = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert completed_period(TEAM, end).end == end
    assert completed_period(TEAM, end - timedelta(microseconds=1)).end == end - timedelta(days=7)


def test_periods_across_spring_dst_keep_the_local_send_time() -> None:
    # Europe/Paris springs forward on Sunday 29 March 2026: the week is one hour short.
    p = completed_period(TEAM, datetime(2026, 3, 31, tzinfo=UTC))
    assert p.end == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 CEST
    assert p.start == datetime(2026, 3, 23, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert p.end - p.start == timedelta(hours=167)
    assert p.next(TEAM).start == p.end
    assert p.previous(TEAM).end == p.start


def test_periods_across_autumn_dst_keep_the_local_send_time() -> None:
    p = completed_period(TEAM, datetime(2026, 10, 27, tzinfo=UTC))
    assert p.start == datetime(2026, 10, 19, 7, 0, tzinfo=UTC)  # 09:00 CEST
    assert p.end == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert p.end - p.start == timedelta(hours=169)


def test_send_times_in_the_dst_gap_and_fold_still_exist_once() -> None:
    night = TeamConfig(name="nuit", weekday="sunday", time=dt.time(2, 30), timezone=PARIS)
    # 02:30 does not exist on 29 March 2026; it is read with the offset before the change.
    assert local_occurrence(night, date(2026, 3, 29)) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # 02:30 happens twice on 25 October 2026; the first one is the send time.
    assert local_occurrence(night, date(2026, 10, 25)) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    weeks = recent_periods(night, completed_period(night, datetime(2026, 11, 2, tzinfo=UTC)), 40)
    for before, after in pairwise(weeks):
        assert before.end == after.start  # contiguous: no item falls between two weeks


def test_other_time_zones_and_weekdays() -> None:
    team = TeamConfig(name="ny", weekday="friday", time=dt.time(17, 0), timezone="America/New_York")
    p = completed_period(team, datetime(2026, 3, 10, tzinfo=UTC))  # NY changed on 8 March
    assert p.end == datetime(2026, 3, 6, 22, 0, tzinfo=UTC)
    assert p.start_date == date(2026, 2, 27)


def test_due_periods_sends_one_missed_digest_only() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    latest = completed_period(TEAM, now)
    assert due_periods(TEAM, None, now) == []  # a new team missed nothing
    assert due_periods(TEAM, latest.start_date, now) == []
    assert due_periods(TEAM, latest.start_date - timedelta(days=7), now) == [latest]
    assert due_periods(TEAM, latest.start_date - timedelta(days=28), now) == [latest]


# --- themes ---------------------------------------------------------------------------------------


def each_own(texts: list[str]) -> tuple[Theme, ...]:
    """The themes of texts each written by a citizen of their own."""
    return themes(texts, "fr", authors=range(len(texts)))


def test_plurals_and_inflections_are_one_theme() -> None:
    found = each_own(
        ["Les Territoires bougent", "le territoire avance", "Collectivités territoriales"]
    )
    assert [(t.label, t.count) for t in found] == [("territoire", 3)]


def test_accents_are_folded_for_matching_but_shown() -> None:
    found = each_own(["le numérique", "Numerique partout", "NUMÉRIQUES !", "l’Évolution"])
    assert [(t.label, t.count) for t in found] == [("numérique", 3)]
    assert theme_key("Évolutions", "fr") == theme_key("evolution", "fr")
    assert fold("Œuvre Été") == "oeuvre ete"


def test_stop_words_and_single_mentions_are_not_themes() -> None:
    texts = ["Pour les uns et pour les autres", "avec eux, pour elles, dans leurs choses", "plus"]
    assert each_own(texts) == ()
    assert theme_key("parce", "fr") is None
    assert theme_key("l", "fr") is None
    assert each_own(["une seule fois : solidarité"]) == ()


def test_a_theme_counts_contributions_not_words() -> None:
    found = each_own(["réseau réseaux réseau", "un réseau"])
    assert [(t.label, t.count) for t in found] == [("réseau", 2)]


def test_a_word_or_phrase_one_citizen_repeated_is_no_theme() -> None:
    texts = ["le zorglub quantique", "encore du zorglub quantique", "un vélo", "plus de vélo"]
    found = themes(texts, "fr", authors=["zoe", "zoe", "ann", "bob"])
    assert [(t.label, t.count) for t in found] == [("vélo", 2)]
    # Two citizens: the same words are a theme, the phrase first.
    found = themes(texts, "fr", authors=["zoe", "ann", "ann", "bob"])
    assert [t.label for t in found] == ["vélo", "zorglub quantique"]
    # A compound one citizen wrote and another spelled apart: two citizens, one theme.
    found = themes(["des tiers-lieux", "un tiers lieu"], "fr", authors=["zoe", "ann"])
    assert [(t.label, t.count) for t in found] == [("tiers lieu", 2)]
    # A phrase one citizen repeated hides none of its words that others used alone.
    found = themes(
        ["services publics", "services publics", "les services", "des services"],
        "fr",
        authors=["zoe", "zoe", "ann", "bob"],
    )
    assert [(t.label, t.count) for t in found] == [("services", 4)]


def test_elisions_split_words() -> None:
    found = each_own(["l’horizontalité des jeux", "d'horizontalité"])
    assert [t.label for t in found] == ["horizontalité"]


# --- the model ------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PERIOD = completed_period(TEAM, NOW)
IN = PERIOD.start + timedelta(days=2)
BEFORE = PERIOD.start - timedelta(days=2)


def digest_of(
    items: list[ItemRecord],
    sessions: list[SessionFact] | None = None,
    *,
    team: TeamConfig = TEAM,
    late: bool = False,
    record: CampaignRecord | None = None,
) -> Digest:
    if sessions is None:  # everyone who answered consented, at the start of the week
        sessions = [SessionFact(p, PERIOD.start, None) for p in {i.participant_id for i in items}]
    data = CampaignInput(record or campaign(), flow(), items, sessions)
    return build_digest(
        team.name,
        team.language,
        PERIOD,
        PERIOD.previous(team),
        [data],
        now=NOW,
        late=late,
        min_respondents=team.min_respondents,
        chart_periods=recent_periods(team, PERIOD, 4),
    )


def three_people(texts: list[str], step: str = "pourquoi") -> list[ItemRecord]:
    return [
        item(step, text, IN + timedelta(minutes=n), who=f"P-{n % 3}")
        for n, text in enumerate(texts)
    ]


def test_counts_and_changes_from_the_previous_week() -> None:
    sessions = [
        SessionFact(1, IN, IN + timedelta(hours=1)),
        SessionFact(2, IN, None),
        SessionFact(3, BEFORE, IN),  # joined last week, completed this week
        SessionFact(4, BEFORE, BEFORE),
        SessionFact(5, BEFORE - timedelta(days=30), None),  # earlier still: in no week here
    ]
    items = [*three_people(["a", "b", "c"]), item("meurt", "x", BEFORE)]
    c = digest_of(items, sessions).campaigns[0]
    assert (c.new_participants, c.previous_new_participants) == (2, 2)
    assert (c.completions, c.previous_completions) == (2, 1)
    assert (c.new_items, c.previous_new_items, c.respondents) == (3, 1, 3)
    assert (c.total_participants, c.total_items) == (5, 4)


def test_sections_in_flow_order_newest_first_capped() -> None:
    items = three_people([f"idée {n}" for n in range(8)]) + three_people(["mort"], "meurt")
    c = digest_of(items).campaigns[0]
    assert [s.step_id for s in c.sections] == ["pourquoi", "meurt"]
    first = c.sections[0]
    assert first.items == ("idée 7", "idée 6", "idée 5", "idée 4", "idée 3")
    assert (first.new_count, first.more) == (8, 3)
    # The part of a choice step heads the next text section.
    assert c.sections[0].part == "1 – Pourquoi tout va changer ?"
    assert c.sections[1].part == "Avec quels moyens ?"
    text = render_text(digest_of(items))
    assert "… et 3 autres" in text
    assert text.index("idée 7") < text.index("idée 3")


def test_no_breakdown_below_min_respondents() -> None:
    items = [
        item("pourquoi", "Territoire secret", IN, who="P-A"),
        item("pourquoi", "territoires secrets", IN, who="P-B"),
    ]
    d = digest_of(items)
    c = d.campaigns[0]
    assert not c.breakdown
    assert c.new_items == 2
    assert all(not s.items and not s.themes for s in c.sections)
    for rendered in (render_text(d), render_html(d), render_preview(d)):
        assert "secret" not in rendered
        assert "2" in rendered
    assert "Moins de 3 répondants" in render_text(d)
    third = [*items, item("meurt", "autre", IN, who="P-C")]
    assert digest_of(third).campaigns[0].breakdown


def test_a_section_with_too_few_respondents_shows_its_count_only() -> None:
    """Decided per section too: three respondents this week, but one alone in "Ce qui meurt"."""
    items = [
        *three_people(["idée a", "idée b", "idée c"]),
        item("meurt", "Le secret de Paul", IN, who="P-0"),
        item("meurt", "Un autre secret de Paul", IN + timedelta(minutes=9), who="P-0"),
    ]
    d = digest_of(items)
    c = d.campaigns[0]
    assert c.breakdown
    pourquoi, meurt = c.sections
    assert pourquoi.items == ("idée c", "idée b", "idée a")
    assert not pourquoi.withheld
    assert meurt.withheld
    assert (meurt.new_count, meurt.items, meurt.more, meurt.themes) == (2, (), 0, ())
    for rendered in (
        render_text(d),
        render_html(d),
        render_preview(d),
        render_chat_text(d, limit=4096),
    ):
        assert "secret" not in rendered.lower()  # neither the texts nor their theme
        assert "Ce qui meurt" in rendered
        assert "idée a" in rendered
    assert "Ce qui meurt (2 nouvelles)" in render_text(d)
    assert "moins de 3 répondants dans cette section" in render_text(d)


def test_the_strictest_of_team_and_campaign_thresholds_applies() -> None:
    items = three_people(["a", "b", "c"])
    strict = digest_of(items, record=campaign(min_respondents=5))  # the team says 3
    assert not strict.campaigns[0].breakdown
    assert strict.campaigns[0].min_respondents == 5
    assert "Moins de 5 répondants" in render_text(strict)
    assert "Moins de 5 répondants" in render_html(strict)
    lenient = digest_of(items, record=campaign(min_respondents=2))
    assert lenient.campaigns[0].breakdown
    team = TeamConfig(name="equipe-2030", campaigns=("mini",), min_respondents=4)
    assert (
        not digest_of(items, team=team, record=campaign(min_respondents=2)).campaigns[0].breakdown
    )


def test_respondents_are_people_not_signatures() -> None:
    """Two people signing with one name are two respondents; one person is one."""
    signed = [
        item("pourquoi", "a", IN, who="Marie Curie", person=101),
        item("pourquoi", "b", IN, who="Marie Curie", person=102),
        item("pourquoi", "c", IN, who="P-X", person=103),
    ]
    c = digest_of(signed).campaigns[0]
    assert (c.respondents, c.breakdown, c.sections[0].withheld) == (3, True, False)
    alone = [item("pourquoi", t, IN, who=f"P-{t}", person=104) for t in "abc"]
    assert not digest_of(alone).campaigns[0].breakdown


def test_themes_per_section_in_the_digest() -> None:
    items = three_people(["Les Territoires", "le territoire", "les collectivités territoriales"])
    section = digest_of(items).campaigns[0].sections[0]
    assert [(t.label, t.count) for t in section.themes] == [("territoire", 3)]
    assert "Thèmes récurrents\u00a0: territoire (3)" in render_text(digest_of(items))


def test_weekly_counts_for_the_chart() -> None:
    items = [*three_people(["a", "b"]), item("meurt", "x", BEFORE)]
    c = digest_of(items).campaigns[0]
    assert c.chart_sections == ("Pourquoi tout va changer ?", "Ce qui meurt")
    assert [w.per_section for w in c.weeks] == [(0, 0), (0, 0), (0, 1), (2, 0)]


# --- rendering ------------------------------------------------------------------------------------

MARKUP = '<script>alert("x")</script> & <b>gras</b> \x1b[31mrouge\x1b[0m'


class Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_participant_markup_is_escaped_in_every_format() -> None:
    d = digest_of(three_people([MARKUP, "b", "c"]))
    html = render_html(d, {"mini": "chart-1@qn-bot"})
    parser = Texts()
    parser.feed(html)
    assert "script" not in parser.tags
    assert "b" not in parser.tags
    assert any('<script>alert("x")</script>' in t for t in parser.text)
    assert "&lt;b&gt;campagne&lt;/b&gt;" in html  # a facilitator's title is text too
    assert 'src="cid:chart-1@qn-bot"' in html
    for plain in (render_text(d), render_preview(d), render_chat_text(d, limit=4096)):
        assert "\x1b" not in plain
        assert '<script>alert("x")</script>' in plain  # plain text: the adapters escape it
    assert clean("a\u202eb\x00c") == "abc"


def test_no_names_or_pseudonyms_in_a_digest() -> None:
    d = digest_of(three_people(["a", "b", "c"]))
    for rendered in (render_text(d), render_html(d), render_preview(d)):
        assert "P-0" not in rendered
        assert "P-1" not in rendered


def test_late_digests_say_so() -> None:
    d = digest_of(three_people(["a", "b", "c"]), late=True)
    assert "En retard" in render_text(d)
    assert subject(d).startswith("[en retard]")
    assert "En retard" in render_html(d)


def test_english_team() -> None:
    team = TeamConfig(name="team", campaigns=("mini",), language="en", min_respondents=1)
    d = digest_of(three_people(["The territories", "territory"]), team=team)
    text = render_text(d)
    assert "Weekly digest" in text
    assert "Why is everything changing?" in text
    assert "New participants" in text


def test_chat_text_fits_one_message_of_the_destination_platform() -> None:
    # The limit is the platform's declared max_text_length (qn_bot.ports), not Telegram's for
    # every platform: a Matrix room gets what fits one Matrix event.
    long = "territoire " * 60
    d = digest_of(three_people([long] * 30) + three_people([long] * 30, "meurt"))
    items = three_people([long] * 30) + three_people([long] * 30, "meurt")
    sessions = [SessionFact(p, PERIOD.start, None) for p in {i.participant_id for i in items}]
    inputs = [
        CampaignInput(dataclasses.replace(campaign(), id=n, slug=f"c{n}"), flow(), items, sessions)
        for n in range(1, 4)
    ]
    three = build_digest(
        TEAM.name, "fr", PERIOD, PERIOD.previous(TEAM), inputs, now=NOW, min_respondents=1
    )
    package = DigestPackage(three, render_text(three), {}, ())
    telegram = declared_capabilities("telegram").max_text_length
    matrix = declared_capabilities("matrix").max_text_length
    assert telegram < matrix
    assert len(package.chat_message("telegram").text) <= telegram
    assert telegram < len(package.chat_message("matrix").text) <= matrix
    assert len(render_text(d)) > 1500
    text = render_chat_text(d, limit=1500)
    assert len(text) <= 1500
    assert "Pourquoi tout va changer ?" in text
    assert "Ce qui meurt" in text


def test_chart_is_a_small_deterministic_png() -> None:
    c = digest_of(three_people(["a", "b", "c"])).campaigns[0]
    png = render_chart(c, "fr", PARIS)
    assert png is not None
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) < 200_000
    assert render_chart(c, "fr", PARIS) == png
    empty = digest_of([]).campaigns[0]
    assert render_chart(empty, "en", PARIS) is None  # never an empty frame


def test_chart_text_is_never_read_as_mathtext() -> None:
    c = digest_of(three_people(["a", "b", "c"])).campaigns[0]
    odd = dataclasses.replace(c, title="Coût $ \\frac{", chart_sections=("Sec $x^2$ $", "b"))
    png = render_chart(odd, "fr", PARIS)
    assert png is not None
    assert png.startswith(b"\x89PNG")


def test_french_feminine_and_plural_adjectives_meet() -> None:
    found = each_own(["services publics", "action publique", "politiques publiques"])
    assert [(t.label, t.count) for t in found] == [("publics", 3)]
    assert each_own(["Nouvelles méthodes", "nouvelles fonctions"]) == ()
