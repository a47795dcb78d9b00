"""Options shared by several commands, and what they resolve to."""

from __future__ import annotations

import os

import click
from sqlalchemy.engine import Engine

from prodloop.config import Config, load_config
from prodloop.errors import ValidationError
from prodloop.store import connect

config_option = click.option(
    "--config",
    "config_file",
    envvar="PRODLOOP_CONFIG",
    default=None,
    help="path of prodloop.yaml (default: ./prodloop.yaml, or built-in defaults without one)",
)


def open_store(ctx: click.Context, config_file: str | None) -> tuple[Config, Engine]:
    """The config and its store, for a command of a group that also takes `--config`."""
    # `--config` works before or after the subcommand's name.
    chosen = config_file or (ctx.obj or {}).get("config_file")
    config = load_config(chosen)
    return config, connect(config.store.url)


def who_from(by: str | None, ask: str = "say who you are") -> str:
    """`--by`, or the login name; `ask` is the error when neither names anyone."""
    who = by or os.environ.get("USER") or ""
    if not who.strip():
        raise ValidationError(ask, field="--by")
    return who
