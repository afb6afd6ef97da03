"""The chat commands: one table, and what is made from it.

Each command is one :class:`CommandSpec` row — its French name, English alias, who may run it,
which layer answers it, and its help text (message catalogue keys ``command_<name>`` and, when
it takes arguments, ``command_<name>_args``). ``/aide``, the Telegram command menu and the
README's command tables are generated from this table (``python -m qn_bot.commands`` prints the
README's), so adding a command is one row here plus its handler.

Typed text is parsed here, once per message, by the core (:func:`parse_command`).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from enum import StrEnum

from qn_bot.i18n import Catalog, default_catalog


class Scope(StrEnum):
    """Who may run a command."""

    CITIZEN = "citizen"
    FACILITATOR = "facilitator"
    ADMIN = "admin"  # the [admins] of the config only


class Route(StrEnum):
    """Which layer answers a command."""

    FLOW = "flow"  # the engine: moves within the campaign's flow (qn_bot.flows.engine)
    PARTICIPANT = "participant"  # the participant machine (qn_bot.conversation)
    FACILITATOR = "facilitator"  # qn_bot.facilitation


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str  # canonical, French
    alias: str  # English
    scope: Scope
    route: Route
    args: bool = False  # its help shows arguments (catalogue key command_<name>_args)
    spellings: tuple[str, ...] = ()  # other spellings people type (accents on phones)

    @property
    def help_key(self) -> str:
        return f"command_{self.name}"

    @property
    def args_key(self) -> str:
        return f"command_{self.name}_args"

    def typed(self, language: str) -> str:
        """The command as a citizen of ``language`` types it."""
        return self.alias if language == "en" else self.name


_C, _F, _A = Scope.CITIZEN, Scope.FACILITATOR, Scope.ADMIN
_FLOW, _PART, _FAC = Route.FLOW, Route.PARTICIPANT, Route.FACILITATOR

#: Every command, in the order /aide, the menu and the README list them.
COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("start", "start", _C, _PART, args=True),
    CommandSpec("suivant", "next", _C, _FLOW),
    CommandSpec("retour", "back", _C, _FLOW),
    CommandSpec("passer", "skip", _C, _FLOW),
    CommandSpec("exemple", "example", _C, _FLOW),
    CommandSpec("aide", "help", _C, _PART),
    CommandSpec("reprendre", "resume", _C, _FLOW),
    CommandSpec("mes_reponses", "my_answers", _C, _FLOW, spellings=("mes_réponses",)),
    CommandSpec("stop", "stop", _C, _PART),
    CommandSpec("oublier", "forget", _C, _PART),
    CommandSpec("mes_donnees", "my_data", _C, _PART, spellings=("mes_données",)),
    CommandSpec("langue", "language", _C, _PART, args=True),
    CommandSpec("signer", "sign", _C, _PART, args=True),
    CommandSpec("signaler", "report", _C, _PART),
    CommandSpec("bilan", "recap", _C, _PART),
    CommandSpec("voter", "vote", _C, _PART),
    CommandSpec("lien", "link", _C, _PART),
    CommandSpec("campagnes", "campaigns", _F, _FAC),
    CommandSpec("lancer", "launch", _F, _FAC, args=True),
    CommandSpec("cloturer", "close", _F, _FAC, args=True, spellings=("clôturer",)),
    CommandSpec("stats", "stats", _F, _FAC, args=True),
    CommandSpec("export", "export", _F, _FAC, args=True),
    CommandSpec("relancer", "remind", _F, _FAC, args=True),
    CommandSpec("digest", "digest", _F, _FAC, args=True),
    CommandSpec("moderer", "moderate", _F, _FAC, args=True, spellings=("modérer",)),
    CommandSpec("facilitateur", "facilitator", _A, _FAC, args=True),
)

BY_NAME: dict[str, CommandSpec] = {spec.name: spec for spec in COMMANDS}

#: canonical (French) name → English alias, for the citizens' and the facilitators' commands.
PARTICIPANT_COMMANDS: dict[str, str] = {s.name: s.alias for s in COMMANDS if s.scope is _C}
FACILITATOR_COMMANDS: dict[str, str] = {s.name: s.alias for s in COMMANDS if s.scope is not _C}

_ALIASES: dict[str, str] = {}
for _spec in COMMANDS:
    for _typed in (_spec.name, _spec.alias, *_spec.spellings):
        _ALIASES[_typed] = _spec.name

# "/cmd", "/cmd@botname" (Telegram groups) or "!cmd" (Matrix bots' habit), then an argument.
_COMMAND_RE = re.compile(r"^[/!]([^\s@/]+)(?:@\S+)?(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # canonical French name, or the name as typed when unknown
    arg: str
    known: bool

    @property
    def spec(self) -> CommandSpec | None:
        return BY_NAME.get(self.name) if self.known else None


def parse_command(text: str) -> Command | None:
    """Return the command in ``text``, or None when the text is an ordinary answer."""
    match = _COMMAND_RE.match(text.strip())
    if match is None:
        return None
    typed = match.group(1).lower()
    arg = (match.group(2) or "").strip()
    canonical = _ALIASES.get(typed)
    if canonical is None:
        # "!" starts many ordinary sentences ("!!! important"); only "/" marks unknown commands.
        if text.lstrip().startswith("!") or not typed.replace("_", "").isalnum():
            return None
        return Command(typed, arg, known=False)
    return Command(canonical, arg, known=True)


def is_facilitator_command(name: str) -> bool:
    return name in FACILITATOR_COMMANDS


def routed(name: str, route: Route) -> bool:
    spec = BY_NAME.get(name)
    return spec is not None and spec.route is route


# ---------------------------------------------------------------------- made from the table


def _usage(catalog: Catalog, language: str, spec: CommandSpec) -> str:
    typed = f"/{spec.typed(language)}"
    return f"{typed} {catalog.t(language, spec.args_key)}" if spec.args else typed


def help_text(catalog: Catalog, language: str, *, facilitator: bool = False) -> str:
    """What /aide answers: the citizens' commands, and the facilitators' for a facilitator."""
    lines = [catalog.t(language, "help_header")]
    lines += [
        f"{_usage(catalog, language, s)} — {catalog.t(language, s.help_key)}"
        for s in COMMANDS
        if s.scope is _C
    ]
    if facilitator:
        lines += ["", catalog.t(language, "help_facilitator_header")]
        lines += [
            f"{_usage(catalog, language, s)} — {catalog.t(language, s.help_key)}"
            for s in COMMANDS
            if s.scope is not _C
        ]
    return "\n".join(lines)


def menu_entries(catalog: Catalog, language: str) -> list[tuple[str, str]]:
    """(command as typed, description) for a platform's command menu: the citizens' ones."""
    entries = []
    for spec in COMMANDS:
        if spec.scope is _C:
            description = catalog.t(language, spec.help_key)
            entries.append((spec.typed(language), description[:1].upper() + description[1:]))
    return entries


def readme_tables(catalog: Catalog | None = None) -> str:
    """The README's command tables (English descriptions), as Markdown."""
    catalog = catalog if catalog is not None else default_catalog()

    def cell(spec: CommandSpec) -> str:
        french = f"`{_usage(catalog, 'fr', spec)}`"
        english = "" if spec.alias == spec.name else f" `{_usage(catalog, 'en', spec)}`"
        return (french + english).replace("|", "\\|")

    def table(scopes: tuple[Scope, ...]) -> list[str]:
        rows = ["| command | what it does |", "| --- | --- |"]
        rows += [
            f"| {cell(s)} | {catalog.t('en', s.help_key).replace('|', chr(92) + '|')} |"
            for s in COMMANDS
            if s.scope in scopes
        ]
        return rows

    return "\n".join(
        [
            "Participants (French names, English aliases):",
            "",
            *table((_C,)),
            "",
            "Facilitators (admins of the config, or granted with `qn-bot facilitator add` or "
            "in chat):",
            "",
            *table((_F, _A)),
        ]
    )


if __name__ == "__main__":  # python -m qn_bot.commands: the README's tables
    sys.stdout.write(readme_tables() + "\n")
