"""What `qn-bot COMMAND --help` says besides the options: a description and examples.

Kept apart from the parser so that every command, including those other modules add
(`moderate`, `opinions`), gets both; tests/unit/test_cli_help.py walks every command.
"""

from __future__ import annotations

import argparse
import textwrap

#: Descriptions of the commands whose parser is built without one.
DESCRIPTIONS: dict[str, str] = {
    "db": "Database maintenance: apply migrations, back up and restore the SQLite file.",
    "db upgrade": "Bring the database schema up to date. Safe to run twice; `qn-bot run` does it "
    "at every start.",
    "flow": "Check flow files before a campaign uses them, and list the flows that can be used.",
    "flow validate": "Check flow files: each problem is printed with its file, step and what is "
    "wrong. Exit status 1 when a file has a problem.",
    "flow list": "One line per flow: id, version, languages, title and file. The ids are what "
    "`qn-bot campaign create --flow` takes.",
    "campaign": "Create campaigns and move them through their life: draft, open, closed, archived.",
    "campaign set": "Change a campaign's settings: its anonymity threshold and its moderation.",
    "campaign open": "Open a campaign: citizens can start it with /start. A closed campaign can "
    "be re-opened.",
    "campaign close": "Close a campaign: the answers are kept, no new ones are taken; citizens "
    "who were answering are told.",
    "campaign archive": "Archive a draft or closed campaign: it leaves the lists of current "
    "campaigns, its answers stay.",
    "campaign list": "A table of the campaigns: status (as the chat says it), edition, "
    "opening and closing dates, participants and items. --format tsv or json gives the same "
    "for scripts, with the statuses draft | open | closed | archived.",
    "digest": "Weekly digests for the teams of the config ([[teams]]): preview them, send them.",
    "facilitator": "Grant or revoke the facilitator role (chat commands /campagnes, /stats, "
    "/relancer, /digest, /moderer…), for every campaign or for one.",
    "facilitator add": "Grant the facilitator role to a platform user.",
    "facilitator remove": "Revoke the facilitator role of a platform user.",
    "facilitator list": "List the facilitators and their campaigns, then the config's admins.",
    "moderate list": "The campaign's items, newest first, one a line; --hidden: the items "
    "public outputs leave out, then the moderation trail.",
    "moderate hide": "Keep items out of every public output (site, digests, themes).",
    "moderate show": "Show hidden items again; under pre-moderation, approve them.",
}

#: Example command lines, by command.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "run": ("qn-bot run --config /etc/qn-bot/qn_bot.toml",),
    "chat": ("qn-bot chat --campaign construire-2030 --as alice",),
    "db": ("qn-bot db upgrade", "qn-bot db backup /var/backups/qn_bot.db"),
    "db upgrade": ("qn-bot db upgrade",),
    "db backup": ("qn-bot db backup /var/backups/qn_bot-$(date +%F).db",),
    "db restore": ("qn-bot db restore /var/backups/qn_bot-2026-12-01.db",),
    "doctor": ("qn-bot doctor",),
    "flow": ("qn-bot flow validate flows/ma-consultation.toml", "qn-bot flow list"),
    "flow validate": ("qn-bot flow validate flows/*.toml",),
    "flow list": ("qn-bot flow list",),
    "campaign": ("qn-bot campaign list", "qn-bot campaign open construire-2030"),
    "campaign create": (
        "qn-bot campaign create construire-2030 --flow construire-2030 "
        '--title "Construire 2030" --edition "Think Small 2026" --opens 2026-12-01',
    ),
    "campaign set": ("qn-bot campaign set construire-2030 --min-respondents 5",),
    "campaign open": ("qn-bot campaign open construire-2030 --broadcast",),
    "campaign close": ("qn-bot campaign close construire-2030",),
    "campaign archive": ("qn-bot campaign archive construire-2030",),
    "campaign list": ("qn-bot campaign list", "qn-bot campaign list --format tsv | cut -f1,2"),
    "export": (
        "qn-bot export construire-2030 --format csv --csv-dialect excel-fr -o reponses.csv",
    ),
    "digest": ("qn-bot digest preview equipe-projet",),
    "digest preview": ("qn-bot digest preview equipe-projet --current --chart semaine.png",),
    "digest send": ("qn-bot digest send equipe-projet",),
    "export-site": ("qn-bot export-site /var/www/consultations",),
    "opinions": ("qn-bot opinions construire-2030 --format md --picture carte.png",),
    "facilitator": ("qn-bot facilitator add telegram:12345",),
    "facilitator add": ("qn-bot facilitator add matrix:@alice:example.org --campaign ts-2026",),
    "facilitator remove": ("qn-bot facilitator remove telegram:12345",),
    "facilitator list": ("qn-bot facilitator list",),
    "themes": ("qn-bot themes construire-2030 --step meurt --format md",),
    "recap": ("qn-bot recap send construire-2030",),
    "recap send": ("qn-bot recap send construire-2030 --wave cloture",),
    "moderate": ("qn-bot moderate construire-2030 list",),
    "moderate list": ("qn-bot moderate construire-2030 list --hidden",),
    "moderate hide": ("qn-bot moderate construire-2030 hide 123 '#124'",),
    "moderate show": ("qn-bot moderate construire-2030 show 123",),
}


def document(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> None:
    """Give every command below ``parser`` a description and an example."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, child in action.choices.items():
            path = " ".join((*prefix, name))
            if not child.description:
                help_text = helps.get(name) or path
                child.description = DESCRIPTIONS.get(path, help_text[:1].upper() + help_text[1:])
            examples = EXAMPLES.get(path, ())
            if examples and "example" not in (child.epilog or ""):
                block = ("example:" if len(examples) == 1 else "examples:") + "".join(
                    "\n  " + line for line in examples
                )
                child.epilog = f"{child.epilog}\n\n{block}" if child.epilog else block
                if child.formatter_class is not argparse.RawDescriptionHelpFormatter:
                    # Keep the examples' lines as written; the description is then wrapped here.
                    child.description = "\n".join(
                        textwrap.fill(paragraph, 88) for paragraph in child.description.split("\n")
                    )
                    child.formatter_class = argparse.RawDescriptionHelpFormatter
            document(child, (*prefix, name))
