"""`prodloop analytics`."""

from __future__ import annotations

import click


@click.group("analytics")
def analytics() -> None:
    """analytics commands."""
