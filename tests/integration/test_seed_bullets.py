"""Every bullet of the seed page, typed through `qn-bot chat`, comes back under its own section."""

from __future__ import annotations

import re

import pytest

from qn_bot.export import md_escape
from qn_bot.synthesis import same_heading
from tests.integration.construire import (
    ALL_MOYENS,
    LIST_STEPS,
    THANKS,
    VALIDATE,
    choice_labels,
    examples,
    prompt,
    section,
    seed_bullets,
)
from tests.integration.processes import SLUG, QnBot

pytestmark = pytest.mark.integration

_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_UNESCAPE = re.compile(r"\\(.)")


def test_the_seed_page_and_the_template_examples_agree() -> None:
    bullets = seed_bullets()
    assert len(bullets) == 67
    for step in LIST_STEPS:
        assert [b.text for b in bullets if b.step == step] == examples(step), step


def md_sections(md: str) -> dict[str, list[str]]:
    """Bullet lines of a Markdown page under the heading text they follow (the nearest one)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in md.splitlines():
        heading = _HEADING.match(line)
        if heading:
            current = sections.setdefault(heading.group(2), [])
        elif line.startswith("- "):
            assert current is not None, f"bullet before any heading: {line!r}"
            current.append(line[2:])
        elif line.startswith("  ") and current:
            current[-1] += "\n" + line[2:]
    return sections


def test_every_seed_bullet_typed_in_chat_is_under_its_own_section_in_the_md_export(
    qn: QnBot,
) -> None:
    bullets = seed_bullets()
    lines = ["1"]
    for step in LIST_STEPS:
        if step == "moyens_juridiques":
            lines.append(ALL_MOYENS)
        lines += [b.text for b in bullets if b.step == step]
        lines.append("/suivant")
    lines.append(VALIDATE)

    result = qn.ok("chat", *("--campaign", SLUG, "--as", "alice"), input="\n".join(lines) + "\n")
    out = result.stdout
    # Each bullet was acknowledged, none refused; the flow reached its end.
    assert out.count("✓ Noté (") == len(bullets), str(result)
    assert "Rien n’a été enregistré" not in out
    for step in LIST_STEPS:
        assert prompt(step) in out
    assert THANKS in out

    md = qn.ok("export", SLUG, "--format", "md").stdout
    sections = md_sections(md)
    for step in LIST_STEPS:
        heading = md_escape(section(step), heading=True)
        if heading not in sections:  # said once, as its part's heading ("1 – Pourquoi… ?")
            heading = next((h for h in sections if same_heading(h, section(step))), heading)
        assert heading in sections, (heading, list(sections))
        typed = [b.text for b in bullets if b.step == step]
        under = sections[heading]
        # Escaped exactly as the export escapes, and verbatim once the escapes are undone.
        assert under == [md_escape(text) for text in typed], step
        assert [_UNESCAPE.sub(r"\1", line) for line in under] == typed, step

    # Position check, independent of the parser above: each bullet lies after its own section
    # heading and before the next heading of the page.
    headings = [m.start() for m in re.finditer(r"^#{1,6} ", md, flags=re.M)] + [len(md)]
    for bullet in bullets:
        title = re.escape(md_escape(section(bullet.step), heading=True))
        # The section's own heading, or its part's when that says the same ("1 – …").
        found = re.search(rf"^(?:### |## \d+ – ){title}$", md, flags=re.M)
        assert found is not None, bullet
        start = found.start() - 1
        end = next(h for h in headings if h > start + 1)
        assert "\n- " + md_escape(bullet.text) + "\n" in md[start:end], bullet

    # The multichoice answer sits under its part "Avec quels moyens ?", one line per choice.
    moyens = sections[md_escape(section("moyens_types"), heading=True)]
    assert len(moyens) == len(choice_labels("moyens_types"))
    for line, label in zip(moyens, choice_labels("moyens_types"), strict=True):
        assert line.startswith(md_escape(label)), (line, label)

    rows = qn.export_json()
    typed_rows = [(r["step"], r["section"], r["text"]) for r in rows if r["step"] in LIST_STEPS]
    assert typed_rows == [(b.step, section(b.step), b.text) for b in bullets]
