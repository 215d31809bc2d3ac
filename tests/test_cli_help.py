"""Every subcommand and option of ``frontdoor`` says what it is for in ``--help``."""

from __future__ import annotations

import argparse

from bot.cli import _parser


def _undocumented(p: argparse.ArgumentParser, path: str) -> list[str]:
    missing = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {a.dest for a in action._choices_actions if a.help}
            for name, child in action.choices.items():
                if name not in helped:
                    missing.append(f"{path} {name}")
                missing += _undocumented(child, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_subcommand_and_option_has_help() -> None:
    assert _undocumented(_parser(), "frontdoor") == []
