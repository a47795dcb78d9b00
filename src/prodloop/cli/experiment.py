"""`prodloop experiment`."""

from __future__ import annotations

import click


@click.group("experiment")
def experiment() -> None:
    """experiment commands."""
