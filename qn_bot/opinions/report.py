"""The opinion map as `qn-bot opinions` gives it: JSON (the contract of docs/DESIGN §4) and
Markdown in the configured language."""

from __future__ import annotations

from typing import Any

from qn_bot.i18n import default_catalog
from qn_bot.opinions.compute import MIN_PARTICIPANTS
from qn_bot.opinions.matrix import MIN_VOTES
from qn_bot.opinions.model import OpinionMap, StatementRate


def group_name(group_id: int) -> str:
    """A group's name for people: its stable id as a letter (1 → A), a number beyond Z."""
    return chr(ord("A") + group_id - 1) if 1 <= group_id <= 26 else str(group_id)


def _rate(statement: StatementRate) -> dict[str, Any]:
    return {"text": statement.text, "agree": statement.agree, "disagree": statement.disagree}


def to_json(opinions: OpinionMap) -> dict[str, Any]:
    """``{"participants_counted", "groups": [{"id", "size", "representative": [{"text",
    "agree", "disagree"}]}], "consensus": [{"text", "agree", "disagree"}]}``, rates 0–1."""
    return {
        "participants_counted": opinions.participants_counted,
        "groups": [
            {
                "id": group.id,
                "size": group.size,
                "representative": [_rate(s) for s in group.representative],
            }
            for group in opinions.groups
        ],
        "consensus": [_rate(s) for s in opinions.consensus],
    }


def _percent(rate: float) -> int:
    return round(rate * 100)


def statement_line(language: str, statement: StatementRate) -> str:
    return default_catalog().t(
        language,
        "opinions_statement",
        text=" ".join(statement.text.split()),
        agree=_percent(statement.agree),
        disagree=_percent(statement.disagree),
    )


def to_markdown(opinions: OpinionMap, title: str, language: str) -> str:
    c = default_catalog()
    lines = [f"# {c.t(language, 'opinions_title', title=title)}", ""]
    lines.append(
        c.plural(
            language,
            "opinions_counted",
            opinions.participants_counted,
            minimum=MIN_VOTES,
        )
        + " "
        + c.plural(language, "opinions_statements", opinions.statements)
    )
    lines.append("")
    if not opinions.groups:
        lines += [c.t(language, "opinions_no_groups", minimum=MIN_PARTICIPANTS), ""]
    for group in opinions.groups:
        size = c.plural(language, "opinions_people", group.size)
        heading = c.t(language, "opinions_group", name=group_name(group.id), size=size)
        lines += [f"## {heading}", ""]
        if group.representative:
            lines += [c.t(language, "opinions_sets_apart"), ""]
            lines += [f"- {statement_line(language, s)}" for s in group.representative]
        else:
            lines.append(c.t(language, "opinions_nothing_apart"))
        lines.append("")
    lines += [f"## {c.t(language, 'opinions_consensus')}", ""]
    if opinions.consensus:
        lines += [f"- {statement_line(language, s)}" for s in opinions.consensus]
    else:
        lines.append(c.t(language, "opinions_no_consensus"))
    return "\n".join(lines) + "\n"


def digest_lines(opinions: OpinionMap, language: str) -> tuple[str, ...]:
    """The digest's block: how many voters count, each shown group with the statement that sets
    it apart most, and what brings everyone together (nothing before anyone is counted)."""
    if opinions.participants_counted == 0:
        return ()
    c = default_catalog()
    lines = [
        c.t(
            language,
            "opinions_digest",
            counted=c.plural(language, "opinions_voters", opinions.participants_counted),
            groups=c.plural(language, "opinions_groups", len(opinions.groups)),
        )
    ]
    for group in opinions.groups:
        size = c.plural(language, "opinions_people", group.size)
        heading = c.t(language, "opinions_group", name=group_name(group.id), size=size)
        if group.representative:
            lines.append(f"{heading}\u00a0: {statement_line(language, group.representative[0])}")
    for statement in opinions.consensus[:2]:
        lines.append(
            c.t(language, "opinions_digest_common", statement=statement_line(language, statement))
        )
    return tuple(lines)
