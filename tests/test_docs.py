"""Docs fail the build when a setting or a command is missing from them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from prodloop.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_doc_lists_every_setting() -> None:
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_docs.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert (ROOT / "docs" / "configuration.md").read_text() == generated, (
        "docs/configuration.md is stale: python scripts/config_docs.py > docs/configuration.md"
    )


def _commands(group: click.Group, prefix: str = "prodloop") -> list[str]:
    names = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            names.extend(_commands(command, f"{prefix} {name}"))
        else:
            names.append(f"{prefix} {name}")
    return names


def test_readme_shows_every_command_and_the_two_commands_first() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in _commands(cli) if f"`{name}`" not in readme]
    assert missing == []
    first_block = readme.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
