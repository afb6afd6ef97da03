"""Every sentence qn-bot shows lives in the message catalogue (qn_bot/locales/*.toml).

A table of French and English texts kept in a module is only found by a reader who knows where
to look, is missed by the catalogue test that keeps the languages in step, and cannot be edited
by a facilitator. This test walks the source of ``qn_bot/`` and fails on the shapes such tables
have taken: a dict keyed by language codes, a name ending in a language suffix (``_MONTHS_FR``),
a branch on a language code (``if language == "en":``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from qn_bot.i18n import SUPPORTED_LANGUAGES, default_catalog

ROOT = Path(__file__).resolve().parents[2] / "qn_bot"
_SUFFIX = re.compile(r"_(?:" + "|".join(SUPPORTED_LANGUAGES) + r")$", re.IGNORECASE)

#: Per-language data that is matched against what citizens wrote, not wording shown to them.
ALLOWED = {
    ("digest/themes.py", "_STEMMER_LANGUAGES"),  # names of the Snowball stemmers
    ("digest/themes.py", "_EXTRA_STOP_WORDS"),  # words dropped before themes are counted
    ("digest/themes.py", "compare"),  # French stems ending in "qu" (stemming, not wording)
    # A command's French name and English alias are the command table's own data (both are
    # understood whatever the language); help texts are in the catalogue.
    ("commands.py", "compare"),
}


def _assigned_name(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str | None:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    return target.id
    return None


def _is_language(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value in SUPPORTED_LANGUAGES


def translation_tables(root: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative == "i18n.py":
            continue  # the catalogue itself
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            what: str | None = None
            name: str | None = None
            if isinstance(node, ast.Dict) and any(_is_language(k) for k in node.keys):
                what, name = "a dict keyed by language", _assigned_name(node, parents)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and _SUFFIX.search(target.id):
                        what, name = "a name with a language suffix", target.id
            elif isinstance(node, ast.Compare) and any(
                _is_language(c) for c in (node.left, *node.comparators)
            ):
                what, name = "a branch on a language code", "compare"
            if what is not None and (relative, name) not in ALLOWED:
                found.append(f"qn_bot/{relative}:{getattr(node, 'lineno', '?')}: {what} ({name})")
    return found


def test_no_translation_table_outside_the_catalogue() -> None:
    assert translation_tables(ROOT) == []


def test_the_scan_finds_each_shape(tmp_path: Path) -> None:
    """The scan would see a table of each shape (so the test above can fail)."""
    (tmp_path / "page.py").write_text(
        'LABELS = {"fr": {"title": "Titre"}, "en": {"title": "Title"}}\n'
        '_MONTHS_FR = ("janvier",)\n'
        'def mean(language):\n    return "mean" if language == "en" else "moyenne"\n',
        encoding="utf-8",
    )
    found = translation_tables(tmp_path)
    assert sorted(line.split(": ", 1)[1] for line in found) == [
        "a branch on a language code (compare)",
        "a dict keyed by language (LABELS)",
        "a name with a language suffix (_MONTHS_FR)",
    ]


def test_page_labels_are_worded_in_every_language() -> None:
    catalog = default_catalog()
    for prefix in ("page_", "site_", "digest_", "chart_"):
        for language in SUPPORTED_LANGUAGES:
            assert catalog.table(language, prefix), (language, prefix)
