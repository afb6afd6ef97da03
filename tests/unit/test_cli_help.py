"""Every `qn-bot` command explains itself: `--help` has a description and an example."""

from __future__ import annotations

import argparse

from qn_bot.cli import build_parser


def _commands() -> list[tuple[list[str], argparse.ArgumentParser]]:
    found: list[tuple[list[str], argparse.ArgumentParser]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found.append(([*prefix, name], child))
                    walk(child, [*prefix, name])

    walk(build_parser(), [])
    return found


def test_every_command_has_a_description_and_an_example() -> None:
    commands = _commands()
    assert len(commands) > 20
    for path, parser in commands:
        text = parser.format_help()
        assert parser.description, path
        assert parser.description.strip() in text, path
        # An example line that runs this very command (`moderate SLUG hide` types the
        # campaign before the subcommand).
        examples = text.partition("example")[2]
        assert examples, (path, text)
        lines = [line.strip() for line in examples.splitlines()]
        wanted = [w for w in path if w != path[0]] if path[0] == "moderate" else path
        assert any(
            line.startswith("qn-bot " + path[0]) and all(w in line.split() for w in wanted)
            for line in lines
        ), (path, examples)
