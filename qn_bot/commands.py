"""Chat commands: their French names, English aliases, and parsing of typed text."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: canonical (French) name → English alias. The order is the one /aide lists.
PARTICIPANT_COMMANDS: dict[str, str] = {
    "start": "start",
    "suivant": "next",
    "retour": "back",
    "passer": "skip",
    "exemple": "example",
    "aide": "help",
    "reprendre": "resume",
    "mes_reponses": "my_answers",
    "stop": "stop",
    "oublier": "forget",
    "mes_donnees": "my_data",
    "langue": "language",
    "signer": "sign",
}

#: Commands that only move the citizen within the flow: the engine alone answers them (the
#: service's batched path may take them). "reprendre" is not one: it also ends a /stop.
FLOW_COMMANDS = frozenset({"suivant", "retour", "passer", "exemple", "aide", "mes_reponses"})

FACILITATOR_COMMANDS: dict[str, str] = {
    "campagnes": "campaigns",
    "lancer": "launch",
    "cloturer": "close",
    "stats": "stats",
    "export": "export",
    "relancer": "remind",
    "digest": "digest",
    "facilitateur": "facilitator",  # admins only: grant or revoke the role
}

_ALIASES: dict[str, str] = {}
for _table in (PARTICIPANT_COMMANDS, FACILITATOR_COMMANDS):
    for _fr, _en in _table.items():
        _ALIASES[_fr] = _fr
        _ALIASES[_en] = _fr
# Accented spellings people type on phones.
_ALIASES.update(
    {"mes_réponses": "mes_reponses", "mes_données": "mes_donnees", "clôturer": "cloturer"}
)

# "/cmd", "/cmd@botname" (Telegram groups) or "!cmd" (Matrix bots' habit), then an argument.
_COMMAND_RE = re.compile(r"^[/!]([^\s@/]+)(?:@\S+)?(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # canonical French name, or the name as typed when unknown
    arg: str
    known: bool


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
