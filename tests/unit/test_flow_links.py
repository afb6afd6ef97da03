"""Links between sections in the flow format (issue 14 §5): declared, checked, in the template."""

from __future__ import annotations

import pytest

from qn_bot.errors import FlowError
from qn_bot.flows.format import Link
from qn_bot.flows.loader import load_flow_text, resolve_flow

BASE = """
id = "liens"
version = 1
languages = ["fr", "en"]
title = { fr = "Liens", en = "Links" }
{links}

[[steps]]
id = "meurt"
kind = "list"
prompt = { fr = "Meurt ?", en = "Dying?" }

[[steps]]
id = "nait"
kind = "text"
prompt = { fr = "Naît ?", en = "Born?" }

[[steps]]
id = "m1"
kind = "list"
prompt = { fr = "M1", en = "M1" }

[[steps]]
id = "m2"
kind = "list"
prompt = { fr = "M2", en = "M2" }

[[steps]]
id = "acteurs"
kind = "list"
prompt = { fr = "Acteurs", en = "Actors" }

[[steps]]
id = "age"
kind = "number"
prompt = { fr = "Âge", en = "Age" }
"""


def flow(links: str) -> str:
    return BASE.replace("{links}", links)


def problems(links: str) -> str:
    with pytest.raises(FlowError) as caught:
        load_flow_text(flow(links), "liens.toml")
    return str(caught.value)


def test_links_are_read_with_sides_of_one_or_several_steps_and_an_optional_sentence() -> None:
    loaded = load_flow_text(
        flow(
            'links = [["meurt", "nait", { fr = "Mourir {left}, naître {right}", '
            'en = "Dying {left}, born {right}" }], [["m1", "m2"], "acteurs"]]'
        ),
        "liens.toml",
    )
    assert loaded.links[0].left == ("meurt",)
    assert loaded.links[0].right == ("nait",)
    assert loaded.links[0].sentence is not None
    assert loaded.links[0].sentence.get("en") == "Dying {left}, born {right}"
    assert loaded.links[1] == Link(("m1", "m2"), ("acteurs",))


def test_no_links_by_default() -> None:
    assert load_flow_text(flow(""), "liens.toml").links == ()


def test_unknown_steps_and_non_text_steps_are_refused() -> None:
    text = problems('links = [["meurt", "nulle_part"], ["age", "acteurs"]]')
    assert "nulle_part" in text
    assert "unknown step" in text
    assert "'age'" in text
    assert "text or list" in text


def test_a_link_must_be_a_pair_of_different_sections() -> None:
    assert "pair" in problems('links = [["meurt"]]')
    assert "both sides" in problems('links = [["meurt", ["meurt", "nait"]]]')
    assert "must be a list" in problems('links = "meurt"')


def test_a_sentence_names_both_sides() -> None:
    text = problems('links = [["meurt", "nait", { fr = "Mourir {left}", en = "Dying {left}" }]]')
    assert "{right}" in text


def test_the_template_links_what_dies_to_what_emerges_and_means_to_actors() -> None:
    template = resolve_flow("construire-2030")
    sides = [(link.left, link.right) for link in template.links]
    assert sides[0] == (("meurt",), ("nait",))
    means = sides[1][0]
    assert sides[1][1] == ("acteurs",)
    assert means
    assert all(step.startswith("moyens_") for step in means)
    assert template.links[0].sentence is not None
    assert "naître" in template.links[0].sentence.get("fr")
