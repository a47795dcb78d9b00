"""Options shared by several commands."""

from __future__ import annotations

import click

config_option = click.option(
    "--config",
    "config_file",
    envvar="PRODLOOP_CONFIG",
    default=None,
    help="path of prodloop.yaml (default: ./prodloop.yaml, or built-in defaults without one)",
)
