"""docs/cli.md documents every command and every option the parser has."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from iopcore.app.cli import build_parser

DOC = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_and_option_is_documented(name: str) -> None:
    assert f"## iopcore {name}" in DOC
    for action in _commands()[name]._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag not in ("--help", "--no-progress"):
                assert flag in DOC, f"{flag} of 'iopcore {name}' is not in docs/cli.md"


def test_every_command_has_a_function() -> None:
    """The dispatch table and the parser agree: no command falls through to another."""
    from iopcore.app.cli import _commands as functions

    assert set(functions()) == set(_commands())
