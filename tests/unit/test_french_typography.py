"""The catalogues are written as people write: French typography in fr.toml, real plurals in both.

A plain space before « : ; ? ! » lets a chat client break the line before the sign; straight
quotes, straight apostrophes (« d'inspiration » for « d’inspiration ») and « (s) » plurals read
as a form letter. Plurals go through ``Catalog.plural`` and its
``_one`` / ``_many`` keys instead.
"""

from __future__ import annotations

import re
import tomllib

import pytest

from qn_bot.i18n import LOCALES_DIR, SUPPORTED_LANGUAGES, default_catalog

NARROW = "\u00a0\u202f"  # the no-break spaces French puts before : ; ? ! and inside « »
#: The voting buttons' labels are a contract (docs/architecture.md: ``[1] D'accord``
#: ``[2] Pas d'accord``), which outside checks match as written there.
CONTRACT_LABELS = frozenset({"vote_agree", "vote_disagree"})


def _messages(language: str) -> dict[str, str]:
    with (LOCALES_DIR / f"{language}.toml").open("rb") as fh:
        return {str(k): str(v) for k, v in tomllib.load(fh).items()}


def _offences(text: str) -> list[str]:
    found = []
    if re.search(r" [:;?!]", text):
        found.append("plain space before : ; ? !")
    if re.search(r"\w[;?!]|\w: ", text):
        found.append("no space before : ; ? !")
    if re.search(rf"«[^{NARROW}]|[^{NARROW}]»", text):
        found.append("« » without no-break spaces inside")
    if re.search(r"[\"“”]|(?:^|\s)'[^']+'", text):
        found.append("straight or English quotes (French quotes are « »)")
    if "(s)" in text:
        found.append("(s) plural")
    if re.search(r"\w'\w", text):
        found.append("straight apostrophe (French writes ’)")
    return found


def test_the_check_catches_each_fault() -> None:
    assert _offences("Votre réponse : 3") == ["plain space before : ; ? !"]
    assert _offences("Merci!") == ["no space before : ; ? !"]
    assert _offences("Campagne « x »") == ["« » without no-break spaces inside"]
    assert _offences('Tapez "oui"') == ["straight or English quotes (French quotes are « »)"]
    assert _offences("{count} idée(s)") == ["(s) plural"]
    assert _offences("Besoin d'inspiration") == ["straight apostrophe (French writes ’)"]
    assert _offences("Merci\u00a0! Campagne «\u202fx\u202f» (/aide, 2:3, l’idée)") == []


def test_french_catalogue_is_typeset() -> None:
    bad = {
        key: found
        for key, text in _messages("fr").items()
        if key not in CONTRACT_LABELS and (found := _offences(text))
    }
    assert not bad, "\n".join(f"{key}: {', '.join(found)}" for key, found in sorted(bad.items()))


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_no_parenthesised_plurals(language: str) -> None:
    assert not [key for key, text in _messages(language).items() if "(s)" in text]


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_plural_keys_come_in_pairs(language: str) -> None:
    keys = set(_messages(language))
    for key in keys:
        if key.endswith("_one"):
            assert key.removesuffix("_one") + "_many" in keys, key
        if key.endswith("_many"):
            assert key.removesuffix("_many") + "_one" in keys, key


def test_citizens_read_one_word_for_a_list_item() -> None:
    # « idée » in the citizen's texts; « élément » was the same thing under another name.
    fr = _messages("fr")
    citizen = [k for k in fr if not k.startswith(("fac_", "page_", "site_", "digest_"))]
    assert not [key for key in citizen if "élément" in fr[key]]
    catalog = default_catalog()
    assert catalog.plural("fr", "count_ideas", 1) == "1 idée"
    assert catalog.plural("fr", "count_ideas", 3) == "3 idées"
    assert catalog.plural("en", "count_ideas", 1) == "1 idea"
    assert catalog.plural("en", "count_ideas", 3) == "3 ideas"


def test_the_built_in_template_speaks_typographic_french() -> None:
    """What the built-in flow says in French itself (prompts, sections, parts, help, labels;
    not the seed's examples, copied verbatim): no-break space before ? ! : ; and ’."""
    from qn_bot.flows.loader import resolve_flow

    flow = resolve_flow("construire-2030")
    texts = [flow.title.get("fr")]
    if flow.description is not None:
        texts.append(flow.description.get("fr"))
    texts += [link.sentence.get("fr") for link in flow.links if link.sentence is not None]
    for step in flow.steps:
        for text in (step.prompt, step.section, step.part, step.help):
            if text is not None:
                texts.append(text.get("fr"))
        texts += [choice.label.get("fr") for choice in step.choices]
    for text in texts:
        assert not re.search(r" [?!:;]", text), text
        assert not re.search(r"\w'\w", text), text
