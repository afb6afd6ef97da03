"""The one text splitter (qn_bot.textsplit), which every adapter uses at its declared limit."""

from __future__ import annotations

import pytest

from qn_bot.textsplit import split_text


def test_split_prefers_paragraphs_then_lines_then_spaces() -> None:
    paragraphs = [("a" * 1000) for _ in range(9)]
    chunks = split_text("\n\n".join(paragraphs), 4096)
    assert all(len(c) <= 4096 for c in chunks)
    assert "\n\n".join(chunks) == "\n\n".join(paragraphs)
    assert [c.count("a") for c in chunks] == [4000, 4000, 1000]
    one_line = " ".join(["mot"] * 3000)
    chunks = split_text(one_line, 4096)
    assert all(len(c) <= 4096 and not c.startswith(" ") for c in chunks)
    assert " ".join(chunks) == one_line
    assert split_text("x" * 9000, 4096) == ["x" * 4096, "x" * 4096, "x" * 808]
    assert split_text("court", 4096) == ["court"]


def test_lines_are_kept_whole_when_they_fit() -> None:
    lines = [f"  • élément {i} " + "x" * 50 for i in range(40)]
    chunks = split_text("\n".join(lines), 500)
    assert all(len(c) <= 500 for c in chunks)
    assert "\n".join(chunks).split("\n") == [line.rstrip() for line in lines]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 0"):
        split_text("a", 0)
