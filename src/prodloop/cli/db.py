"""`prodloop db`: the store's schema."""

from __future__ import annotations

import click

from prodloop.cli.options import config_option
from prodloop.config import load_config
from prodloop.store.engine import create_store_engine, current_revision, head_revision, upgrade


@click.group()
def db() -> None:
    """Manage the store's schema (SQLite or PostgreSQL)."""


@db.command("upgrade")
@config_option
def db_upgrade(config_file: str | None) -> None:
    """Apply every pending migration (`prodloop up` does this too)."""
    config = load_config(config_file)
    engine = create_store_engine(config.store.url)
    before = current_revision(engine)
    after = upgrade(engine)
    if before == after:
        click.echo(f"store is up to date at revision {after}")
    else:
        click.echo(f"store upgraded from {before or 'empty'} to {after}")


@db.command("current")
@config_option
def db_current(config_file: str | None) -> None:
    """Print the store's schema revision and the newest one this prodloop knows."""
    config = load_config(config_file)
    engine = create_store_engine(config.store.url)
    click.echo(f"current: {current_revision(engine) or 'empty'}")
    click.echo(f"head:    {head_revision()}")
