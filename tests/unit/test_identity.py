"""Signatures: what a citizen may sign with, and when two signatures are the same name."""

from __future__ import annotations

import pytest

from qn_bot.identity import (
    MAX_SIGNATURE,
    Signature,
    SignatureProblem,
    comparison_key,
    parse_signature,
)


def signed(raw: str) -> Signature:
    result = parse_signature(raw)
    assert isinstance(result, Signature), (raw, result)
    return result


@pytest.mark.parametrize(
    "other",
    [
        "ana lopez",
        "ANA LOPEZ",
        "Âna Lópèz",  # accents
        "Ana Lope\u0301z",  # a combining accent instead of a precomposed letter
        "\u0410na Lopez",  # Cyrillic А
        "Ana L\u043epez",  # Cyrillic о
        "Ana Lopez\u200f",  # a right-to-left mark
        "Ana\u200bLopez",  # a zero-width space
        "Ana\u2060 Lop\u200dez",  # word joiner, zero-width joiner
        "ＡＮＡ ＬＯＰＥＺ",  # fullwidth (NFKC)
        "Ana  Lopez",
        "AnaLopez",
        "Ana L0pez",  # digit zero for the letter o
        "𝐀𝐧𝐚 𝐋𝐨𝐩𝐞𝐳",  # mathematical bold
    ],
)
def test_look_alike_signatures_have_one_key(other: str) -> None:
    assert signed(other).key == signed("Ana Lopez").key


@pytest.mark.parametrize("other", ["Ana Lopes", "Ana", "Anna Lopez", "Ana Lopez 2"])
def test_different_names_have_different_keys(other: str) -> None:
    assert signed(other).key != signed("Ana Lopez").key


@pytest.mark.parametrize(
    "raw",
    [
        "P-1A2B3C4D",
        "p-1a2b3c4d",
        "P-0002",
        "\u0420-0002",  # Cyrillic Р
        "P\u2010 0002",  # a Unicode hyphen and a space
        "P - 0002",
        "ｐ－００２１",  # fullwidth
        "P-0OO2",  # letters O for zeros
        "P-\u200b0002",
        "Moi (P-0002)",
        "Ana P-1A2B3C4D",
    ],
)
def test_a_pseudonym_shape_is_refused(raw: str) -> None:
    assert parse_signature(raw) is SignatureProblem.PSEUDONYM


@pytest.mark.parametrize(
    "raw", ["Jean-Pierre", "Philippe-Pierre Dupont", "Ana P.", "Équipe P-Nord", "Pépé"]
)
def test_names_with_a_p_and_a_dash_are_fine(raw: str) -> None:
    assert isinstance(parse_signature(raw), Signature)


@pytest.mark.parametrize("raw", ["", "   ", "\u200b\u200f", "1234", "---", "🙂", "..."])
def test_a_signature_needs_a_letter(raw: str) -> None:
    assert parse_signature(raw) in (SignatureProblem.EMPTY, SignatureProblem.NO_LETTER)


def test_the_shown_signature_is_one_short_line_without_invisible_characters() -> None:
    sig = signed("  Ana\n\tLopez\u200b\u202e  ")
    assert sig.text == "Ana Lopez"
    long = signed("Ana " + "x" * 500)
    assert len(long.text) <= MAX_SIGNATURE
    assert long.text.endswith("…")


def test_the_key_is_stable_and_bounded() -> None:
    assert comparison_key("Ana Lopez") == comparison_key("ana lopez")
    key = signed("\ufdf2" * 60).key  # a ligature that NFKC expands fourfold
    assert len(key) == 64
