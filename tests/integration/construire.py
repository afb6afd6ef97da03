"""What the integration tests know about the built-in flow construire-2030 and its seed page.

Read straight from the template file and the seed text, not through qn_bot's loader, so a
loader bug cannot hide itself.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import qn_bot

TEMPLATE = Path(qn_bot.__file__).parent / "flows" / "templates" / "construire-2030.toml"
SEED = Path(__file__).parents[1] / "data" / "seed_construire_2030.txt"

LIST_STEPS = (
    "pourquoi",
    "meurt",
    "dysfonctionne",
    "nait",
    "horizons",
    # moyens_types (multichoice) comes here
    "moyens_juridiques",
    "moyens_politico_techniques",
    "moyens_lexicaux",
    "moyens_financement",
    "moyens_economiques",
    "acteurs",
)
MOYENS_STEPS = LIST_STEPS[5:10]
ALL_MOYENS = "1, 2, 3, 4, 5"
VALIDATE = "Valider et terminer"

# Fixed sentences of the French message catalogue the tests wait for.
CONSENT_QUESTION = "Acceptez-vous\u00a0?"
NOTED = re.compile(r"✓ Noté \((\d+) au total\)")
THANKS = "Merci pour vos contributions"
WELCOME_BACK = "Bon retour"


@cache
def template() -> dict[str, Any]:
    with TEMPLATE.open("rb") as f:
        return tomllib.load(f)


@cache
def steps() -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in template()["steps"]}


def fr(value: Any) -> str:
    return value if isinstance(value, str) else value["fr"]


def prompt(step_id: str) -> str:
    return fr(steps()[step_id]["prompt"])


def section(step_id: str) -> str:
    step = steps()[step_id]
    return fr(step["section"] if "section" in step else step["part"])


def examples(step_id: str) -> list[str]:
    return list(steps()[step_id]["examples"]["fr"])


def choice_labels(step_id: str) -> list[str]:
    return [fr(choice["label"]) for choice in steps()[step_id]["choices"]]


# --- the seed page -----------------------------------------------------------------------------

# The line of the seed page that opens each step's bullets. The seed's first part has six
# "Parce que …" sub-headings that all belong to "Pourquoi tout va changer ?".
_SEED_SECTIONS: tuple[tuple[str, str], ...] = (
    ("1 - Pourquoi tout va changer", "pourquoi"),
    ("Quels seraient les principaux", ""),
    ("Ce qui meurt", "meurt"),
    ("Ce qui ne peut plus fonctionner", "dysfonctionne"),
    ("Ce qui naît, émerge", "nait"),
    ("2 – Expérimenter et construire", ""),
    ("Des horizons souhaitables", "horizons"),
    ("Avec quels moyens", ""),
    ("1) Des moyens juridiques", "moyens_juridiques"),
    ("2 ) Des dispositifs politico techniques", "moyens_politico_techniques"),
    ("3) Des moyens lexicaux", "moyens_lexicaux"),
    ("4) Des modes de financement", "moyens_financement"),
    ("5) Des moyens économiques", "moyens_economiques"),
    ("6) Avec quels acteurs", "acteurs"),
    ("Conception & réalisation", ""),
)


@dataclass(frozen=True)
class SeedBullet:
    step: str
    text: str


def seed_bullets() -> list[SeedBullet]:
    """Every bullet of the seed page with the step of its section, in page order.

    A bullet is a line starting with "  • "; lines "    > x" below it are sub-bullets and join
    it as "parent > x" (the way the template writes them).
    """
    bullets: list[SeedBullet] = []
    current = ""
    for line in SEED.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        for start, step in _SEED_SECTIONS:
            if stripped.startswith(start):
                current = step
                break
        if line.startswith("  • "):
            assert current, f"seed bullet outside a known section: {line!r}"
            bullets.append(SeedBullet(current, line[len("  • ") :].strip()))
        elif line.startswith("    > "):
            parent = bullets[-1]
            bullets[-1] = SeedBullet(parent.step, f"{parent.text} > {line.strip()[2:].strip()}")
    return bullets
