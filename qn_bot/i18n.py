"""The message catalogue: every sentence the bot says itself, in French first and English.

Catalogues are TOML files in ``qn_bot/locales`` (one per language, flat keys, ``{name}``
placeholders). We use them rather than gettext because facilitators edit them without a compile
step, and a test checks that every language has the same keys and placeholders.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

LOCALES_DIR = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "fr"
SUPPORTED_LANGUAGES = ("fr", "en")


class Catalog:
    def __init__(self, messages: Mapping[str, Mapping[str, str]]) -> None:
        self._messages = messages

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._messages)

    def has(self, language: str) -> bool:
        return language in self._messages

    def t(self, language: str, key: str, /, **params: object) -> str:
        table = self._messages.get(language) or self._messages[DEFAULT_LANGUAGE]
        template = table.get(key)
        if template is None:
            template = self._messages[DEFAULT_LANGUAGE][key]  # KeyError here is a bug
        return template.format_map(params) if params else template

    def keys(self, language: str) -> frozenset[str]:
        return frozenset(self._messages[language])

    def placeholders(self, language: str, key: str) -> frozenset[str]:
        return frozenset(
            name
            for _, name, _, _ in string.Formatter().parse(self._messages[language][key])
            if name
        )


@cache
def default_catalog() -> Catalog:
    messages: dict[str, dict[str, str]] = {}
    for language in SUPPORTED_LANGUAGES:
        with (LOCALES_DIR / f"{language}.toml").open("rb") as fh:
            raw = tomllib.load(fh)
        messages[language] = {str(k): str(v) for k, v in raw.items()}
    return Catalog(messages)
