"""Links between sections (issue 14 §5): the theme pairs the same citizens give more often than
chance, each cell under the anonymity threshold withheld."""

from __future__ import annotations

import pytest

from qn_bot.flows.format import Link
from qn_bot.themes.compute import METHOD_TFIDF, StepTheme, StepThemes, ThemeItem
from qn_bot.themes.links import SectionLink, link_grid, section_links, strong_pairs


def planted() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """12 citizens: the 6 who see "voiture" dying see "vélo" being born; the 6 who see
    "papier" dying see "numérique" being born, 2 of them "vélo" too."""
    dying: dict[str, set[str]] = {}
    born: dict[str, set[str]] = {}
    for n in range(6):
        dying[f"a{n}"] = {"voiture"}
        born[f"a{n}"] = {"vélo"}
    for n in range(6):
        dying[f"b{n}"] = {"papier"}
        born[f"b{n}"] = {"numérique"} | ({"vélo"} if n < 2 else set())
    dying["lonely"] = {"voiture"}  # gave nothing on the other side: not in the population
    return dying, born


def test_counts_distinct_citizens_and_lift_against_chance() -> None:
    dying, born = planted()
    grid = link_grid(dying, born, minimum=5)
    assert grid.people == 12
    assert grid.rows == ("papier", "voiture")
    assert grid.columns == ("vélo", "numérique")
    car_bike = grid.cell("voiture", "vélo")
    # 6 of 12 saw "voiture" die, 8 of 12 saw "vélo" born: chance gives 4, lift 6 / 4.
    assert car_bike.count == 6
    assert car_bike.lift == pytest.approx(1.5)
    paper_digital = grid.cell("papier", "numérique")
    assert paper_digital.count == 6
    assert paper_digital.lift == pytest.approx(2.0)


def test_a_cell_under_the_threshold_is_withheld_count_and_lift() -> None:
    dying, born = planted()
    grid = link_grid(dying, born, minimum=5)
    for left, right in (("papier", "vélo"), ("voiture", "numérique")):
        cell = grid.cell(left, right)
        assert cell.withheld
        assert cell.count is None
        assert cell.lift is None
    assert not link_grid(dying, born, minimum=2).cell("papier", "vélo").withheld


def test_strong_pairs_are_shown_cells_above_chance_the_best_partner_of_each_row() -> None:
    dying, born = planted()
    pairs = strong_pairs(link_grid(dying, born, minimum=5))
    assert [(p.left, p.right, p.count) for p in pairs] == [
        ("papier", "numérique", 6),
        ("voiture", "vélo", 6),
    ]
    assert strong_pairs(link_grid(dying, born, minimum=7)) == []


def step(step_id: str, themes: dict[str, list[str]]) -> StepThemes:
    return StepThemes(
        step_id,
        METHOD_TFIDF,
        tuple(
            StepTheme(step_id, label, (label,), tuple(ThemeItem(p, f"{label} {p}") for p in people))
            for label, people in themes.items()
        ),
    )


def test_section_links_reads_each_side_from_the_steps_themes_several_steps_as_one() -> None:
    found = [
        step("m1", {"loi": ["p1", "p2", "p3"]}),
        step("m2", {"loi": ["p4", "p5"], "budget": ["p6"]}),
        step("acteurs", {"communes": ["p1", "p2", "p3", "p4", "p5", "p6"]}),
    ]
    (link,) = section_links(found, [Link(("m1", "m2"), ("acteurs",))], minimum=5)
    assert link.grid.cell("loi", "communes").count == 5
    assert link.grid.cell("budget", "communes").withheld


def test_a_side_whose_section_is_not_shown_gives_no_link() -> None:
    found = [step("meurt", {"x": ["p1"]}), step("nait", {"y": ["p1"]})]
    links = [Link(("meurt",), ("nait",))]
    assert section_links(found, links, minimum=1, shows=lambda s: s != "nait") == ()
    assert len(section_links(found, links, minimum=1)) == 1


def test_the_sentence_says_the_pair_and_its_people_in_both_languages() -> None:
    from qn_bot.flows.loader import resolve_flow
    from qn_bot.themes.links_text import heading, link_lines

    flow = resolve_flow("construire-2030")
    dying, born = planted()
    found = section_links(
        [step("meurt", {}), step("nait", {})], flow.links[:1], minimum=5
    )  # no themes: no link
    assert found == ()
    link = SectionLink(flow.links[0], link_grid(dying, born, minimum=5))
    assert link_lines(link, "fr")[1] == (
        "Ceux qui voient mourir «\u00a0voiture\u00a0» voient surtout naître «\u00a0vélo\u00a0» "
        "(6 personnes)"
    )
    assert link_lines(link, "en")[0] == (
        "Those who see “papier” dying mostly see “numérique” being born (6 people)"
    )
    assert (
        heading(flow, link, "fr") == "Liens entre «\u00a0Ce qui meurt\u00a0» et "
        "«\u00a0Ce qui naît, émerge, et change tout\u00a0»"
    )
    generic = SectionLink(Link(("meurt",), ("nait",)), link.grid)
    assert link_lines(generic, "en")[0].startswith("Those who mention “papier” mostly mention")


def test_the_heatmap_is_a_phone_wide_png_and_nothing_when_every_cell_is_withheld() -> None:
    from qn_bot.themes.heatmap import render_heatmap

    dying, born = planted()
    png = render_heatmap(link_grid(dying, born, minimum=5), "Moyens", "Acteurs", "fr")
    assert png is not None
    assert png.startswith(b"\x89PNG")
    assert int.from_bytes(png[16:20], "big") == 720  # 360 points at twice the pixels
    assert render_heatmap(link_grid(dying, born, minimum=7), "Moyens", "Acteurs", "fr") is None


def test_a_group_no_shared_word_names_is_in_no_link() -> None:
    people = ["p1", "p2", "p3"]
    found = [
        step("meurt", {"": people, "papier": ["p4", "p5"]}),
        step("nait", {"vélo": [*people, "p4", "p5"]}),
    ]
    (link,) = section_links(found, [Link(("meurt",), ("nait",))], minimum=1)
    assert link.grid.rows == ("papier",)
    assert link.grid.people == 2  # p1-p3's only theme there has no name: no row, no cell
