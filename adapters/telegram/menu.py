"""The command menu registered with setMyCommands, in French (default) and English."""

from __future__ import annotations

from telegram import BotCommand

from qn_bot.commands import PARTICIPANT_COMMANDS

DESCRIPTIONS: dict[str, tuple[str, str]] = {
    # canonical name: (French, English)
    "start": ("Commencer ou choisir une campagne", "Start or choose a campaign"),
    "suivant": ("Question suivante", "Next question"),
    "retour": ("Question précédente", "Previous question"),
    "passer": ("Passer cette question", "Skip this question"),
    "exemple": ("Voir des exemples", "Show examples"),
    "aide": ("Aide", "Help"),
    "reprendre": ("Reprendre où j'en étais", "Resume where I was"),
    "mes_reponses": ("Revoir mes réponses", "Review my answers"),
    "stop": ("Ne plus recevoir de messages", "Stop receiving messages"),
    "oublier": ("Effacer toutes mes données", "Erase all my data"),
    "mes_donnees": ("Télécharger mes données", "Download my data"),
    "langue": ("Changer de langue (fr, en)", "Change language (fr, en)"),
}


def menu(language: str) -> list[BotCommand]:
    """Participant commands under their French names, or their English aliases for ``en``."""
    english = language == "en"
    commands = []
    for name, alias in PARTICIPANT_COMMANDS.items():
        french_text, english_text = DESCRIPTIONS.get(name, (name, alias))
        commands.append(
            BotCommand(alias, english_text) if english else BotCommand(name, french_text)
        )
    return commands
