"""The Construire 2030 flow as a Matrix citizen types it: (message, text the answer contains)."""

from __future__ import annotations

from tests.integration.construire import CONSENT_QUESTION, THANKS, VALIDATE

ESCAPE_ME = "<b>gras</b> & <script>alert(1)</script>"

CONSENT = ("Bonjour", CONSENT_QUESTION)
AFTER_CONSENT = [
    ("Les temps longs de décision", "Noté (1 au total)"),
    (ESCAPE_ME, "Noté (2 au total)"),
    ("/suivant", "Ce qui meurt"),
    ("Pouvoir vertical", "Noté (1 au total)"),
    ("/suivant", "Ce qui ne peut plus fonctionner"),
    ("/passer", "Ce qui naît"),
    ("Individu au centre", "Noté (1 au total)"),
    ("/suivant", "horizons souhaitables"),
    ("Ville apprenante", "Noté (1 au total)"),
    ("/suivant", "Avec quels moyens"),
    ("1, 4", "Des moyens juridiques\u00a0: lesquels"),
    ("Régulations intelligentes", "Noté (1 au total)"),
    ("/suivant", "Des modes de financement\u00a0: lesquels"),
    ("Plasticité", "Noté (1 au total)"),
    ("/suivant", "Avec quels acteurs"),
    ("Chercheurs - citoyens, forums hybrides", "Noté (1 au total)"),
    ("/suivant", "Voici vos réponses"),
]
FINISH = (VALIDATE, THANKS)
ITEMS = {
    "Les temps longs de décision",
    ESCAPE_ME,
    "Pouvoir vertical",
    "Individu au centre",
    "Ville apprenante",
    "Des moyens juridiques, Des modes de financement",
    "Régulations intelligentes",
    "Plasticité",
    "Chercheurs - citoyens, forums hybrides",
}
