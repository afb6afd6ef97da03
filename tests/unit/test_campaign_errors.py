"""Campaign errors reach facilitators in chat in their language (qn_bot.facilitation.error_text)."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

import qn_bot
from qn_bot.domain import CampaignStatus
from qn_bot.errors import CampaignError
from qn_bot.facilitation import error_text
from qn_bot.i18n import default_catalog

PACKAGE = Path(qn_bot.__file__).parent


def _raised() -> list[tuple[str, int, str | None, set[str]]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        errors = path == PACKAGE / "errors.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                # CampaignError(...), and cls(...) in its own constructors (errors.py)
                and (node.func.id == "CampaignError" or (errors and node.func.id == "cls"))
            ):
                keywords = {k.arg: k.value for k in node.keywords if k.arg}
                key = keywords.pop("key", None)
                name = key.value if isinstance(key, ast.Constant) else None
                found.append((path.name, node.lineno, name, set(keywords)))
    return found


def test_every_campaign_error_has_a_catalogue_entry_with_its_fields() -> None:
    catalog = default_catalog()
    raised = _raised()
    assert len(raised) > 10
    for file, line, key, params in raised:
        assert isinstance(key, str), f"{file}:{line}: CampaignError without key="
        for language in ("fr", "en"):
            template = catalog.t(language, f"campaign_error_{key}", **{p: "x" for p in params})
            fields = {
                f for _, f, _, _ in string.Formatter().parse(
                    catalog.table(language, "campaign_error_")[key]
                ) if f
            }  # fmt: skip
            assert fields <= params, (file, line, language, fields - params)
            assert template


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "fr",
            "la campagne «\u00a0ts\u00a0» est brouillon\u00a0: elle ne peut pas devenir "
            "clôturée (seulement si elle est ouverte).",
        ),
        ("en", "campaign “ts” is draft: it cannot become closed (only when it is open)."),
    ],
)
def test_a_refused_transition_reads_in_the_facilitators_language(
    language: str, expected: str
) -> None:
    error = CampaignError(
        "campaign 'ts' is draft: it cannot become closed (only from open)",
        key="transition",
        slug="ts",
        status=CampaignStatus.DRAFT,
        target=CampaignStatus.CLOSED,
        allowed=(CampaignStatus.OPEN,),
    )
    assert error_text(default_catalog(), language, error) == expected
    assert str(error).startswith("campaign 'ts' is draft")  # the CLI's line stays as it was
