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
#: Languages whose singular covers zero as well as one (CLDR: « 0 participant », "0 participants").
_ZERO_IS_SINGULAR = frozenset({"fr"})


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

    def table(self, language: str, prefix: str) -> Mapping[str, str]:
        """The unformatted templates whose key starts with ``prefix``, keyed by the rest of the
        key: the labels of one page, handed whole to its Jinja2 template."""
        table = self._messages.get(language) or self._messages[DEFAULT_LANGUAGE]
        fallback = self._messages[DEFAULT_LANGUAGE]
        return {
            key.removeprefix(prefix): table.get(key, template)
            for key, template in fallback.items()
            if key.startswith(prefix)
        }

    def plural(self, language: str, key: str, count: int, /, **params: object) -> str:
        """``key_one`` or ``key_many``, as ``count`` asks in ``language``, filled in with
        ``count`` and ``params``."""
        # A language without a catalogue is spoken in the default one's words and rules.
        spoken = language if language in self._messages else DEFAULT_LANGUAGE
        singular = count == 1 or (count == 0 and spoken in _ZERO_IS_SINGULAR)
        return self.t(language, f"{key}_{'one' if singular else 'many'}", count=count, **params)

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
