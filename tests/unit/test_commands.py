"""The command table: /aide, the Telegram menu and the README's tables are made from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from qn_bot.commands import (
    COMMANDS,
    FACILITATOR_COMMANDS,
    PARTICIPANT_COMMANDS,
    Route,
    Scope,
    help_text,
    menu_entries,
    parse_command,
    readme_tables,
)
from qn_bot.facilitation import HANDLERS
from qn_bot.i18n import default_catalog

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_command_tables_are_made_from_the_table() -> None:
    """Out of date? Paste the output of `python -m qn_bot.commands` into README.md."""
    assert readme_tables() in README.read_text(encoding="utf-8")


def test_the_tables_are_printed_for_the_readme() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "qn_bot.commands"], capture_output=True, text=True, check=True
    ).stdout
    assert printed == readme_tables() + "\n"
    assert "| `/signer Prénom Nom` `/sign First Last` |" in printed
    assert "`/export CAMPAGNE [md\\|html\\|csv\\|json]`" in printed


def test_help_lists_the_citizen_commands_and_facilitators_get_theirs() -> None:
    catalog = default_catalog()
    for language in ("fr", "en"):
        citizen = help_text(catalog, language)
        facilitator = help_text(catalog, language, facilitator=True)
        for spec in COMMANDS:
            line = f"/{spec.typed(language)}"
            if spec.scope is Scope.CITIZEN:
                assert line in citizen, (language, spec.name)
            else:
                assert f"\n{line} " not in citizen, (language, spec.name)
                assert f"\n{line} " in facilitator, (language, spec.name)
    assert help_text(catalog, "fr").startswith("Commandes\u00a0:\n/start [campagne] — ")
    assert "/langue en — changer de langue" in help_text(catalog, "fr")
    assert "/language fr — change language" in help_text(catalog, "en")


def test_the_menu_is_made_from_the_table() -> None:
    catalog = default_catalog()
    french = dict(menu_entries(catalog, "fr"))
    english = dict(menu_entries(catalog, "en"))
    assert list(french) == list(PARTICIPANT_COMMANDS)
    assert list(english) == list(PARTICIPANT_COMMANDS.values())
    assert french["signer"].startswith("Signer vos contributions")
    assert english["sign"].startswith("Sign my contributions")
    assert all(0 < len(text) <= 256 for text in [*french.values(), *english.values()])


def test_every_command_has_its_texts_and_is_parsed_under_each_spelling() -> None:
    catalog = default_catalog()
    for spec in COMMANDS:
        for language in ("fr", "en"):
            assert spec.help_key in catalog.keys(language)
            assert (spec.args_key in catalog.keys(language)) == spec.args
        for typed in (spec.name, spec.alias, *spec.spellings):
            command = parse_command(f"/{typed} x")
            assert command is not None
            assert command.known
            assert command.spec is spec
    assert set(FACILITATOR_COMMANDS) == {s.name for s in COMMANDS if s.route is Route.FACILITATOR}


def test_every_facilitator_command_has_its_handler() -> None:
    assert set(HANDLERS) == {s.name for s in COMMANDS if s.route is Route.FACILITATOR}
