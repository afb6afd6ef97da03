"""Configuration loading, the message catalogues, command parsing and text cleaning."""

from __future__ import annotations

from pathlib import Path

import pytest

from qn_bot.commands import FACILITATOR_COMMANDS, PARTICIPANT_COMMANDS, parse_command
from qn_bot.config import load_config
from qn_bot.errors import ConfigError
from qn_bot.i18n import SUPPORTED_LANGUAGES, default_catalog
from qn_bot.text import is_blank, normalize, split_items

REPO = Path(__file__).resolve().parents[2]


def test_example_config_loads_and_env_overrides_secrets() -> None:
    config = load_config(REPO / "config.example.toml", environ={"QN_BOT_TELEGRAM_TOKEN": "t0k"})
    assert config.telegram.token is not None
    assert config.telegram.token.get_secret_value() == "t0k"
    assert "t0k" not in repr(config)  # secrets never reach logs through repr
    assert config.teams[0].timezone == "Europe/Paris"


def test_defaults_without_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={})
    assert config.database.url == "sqlite:///qn_bot.db"
    assert config.source is None


def test_anonymity_thresholds_default_to_five(tmp_path: Path) -> None:
    """The site and teams publish nothing of a section answered by fewer than 5 people unless
    the operator says otherwise."""
    path = tmp_path / "c.toml"
    path.write_text("[site]\nmin_respondents = 7\n\n[[teams]]\nname = 'a'\n")
    config = load_config(path, environ={})
    assert config.site.min_respondents == 7
    assert config.teams[0].min_respondents == 5
    assert load_config(None, environ={}).site.min_respondents == 5


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[database]\nurl = "sqlite:///x.db"\n')
    config = load_config(None, environ={"QN_BOT_CONFIG": str(path)})
    assert config.database.url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[database]\nurl = 1\nextra = 2\n", "extra"),
        ("[[teams]]\nname = 'a'\ntimezone = 'Mars/Olympus'\n", "Mars/Olympus"),
        ("admins = ['nocolon']\n", "PLATFORM:USER_ID"),
        ("[telegram]\nmode = 'carrier-pigeon'\n", "mode"),
        ("not toml at all [", "invalid TOML"),
        ("[site]\nmin_respondents = 0\n", "min_respondents"),
        ("[[teams]]\nname = 'a'\nmin_respondents = 0\n", "min_respondents"),
        ("[echo]\ntranscript = 'x'\n", "echo: Extra inputs"),  # no platform declares it
        ("[platforms]\necho = 1\n", "platforms: Extra inputs"),
    ],
)
def test_bad_config_is_explained(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_catalogues_have_same_keys_and_placeholders() -> None:
    catalog = default_catalog()
    fr, en = (catalog.keys(lang) for lang in SUPPORTED_LANGUAGES)
    assert fr == en
    for key in fr:
        assert catalog.placeholders("fr", key) == catalog.placeholders("en", key), key


def test_command_parsing() -> None:
    assert parse_command("/suivant") is not None
    for french, english in {**PARTICIPANT_COMMANDS, **FACILITATOR_COMMANDS}.items():
        for typed in (f"/{french}", f"/{english}", f"/{english.upper()}"):
            command = parse_command(typed)
            assert command is not None
            assert command.name == french
            assert command.known
    command = parse_command("/start@qn_bot construire-2030")
    assert command is not None
    assert (command.name, command.arg) == ("start", "construire-2030")
    unknown = parse_command("/frobnicate now")
    assert unknown is not None
    assert not unknown.known
    assert parse_command("!!! important") is None
    assert parse_command("un texte / avec barre") is None
    assert parse_command("/") is None


def test_text_cleaning() -> None:
    assert is_blank(" \t\u200b\u200d\ufeff\n")
    assert not is_blank("a")
    assert normalize("  x\x00y\x07 ") == "xy"
    assert normalize("e\u0301") == "é"
    assert normalize("👨\u200d👩\u200d👧") == "👨\u200d👩\u200d👧"  # ZWJ kept inside emoji
    assert split_items("• a\n• b\n  suite de b\n• c") == ["a", "b\nsuite de b", "c"]
    assert split_items("une ligne\net une autre") == ["une ligne\net une autre"]
    assert split_items("- seul") == ["- seul"]  # one line: kept as typed
    assert split_items("> 1000 habitants") == ["> 1000 habitants"]
    assert normalize("a\u202eb\u2067c\u2069") == "ab\u2067c\u2069"  # overrides out, isolates in
    assert split_items("1. un\n2. deux") == ["un", "deux"]
