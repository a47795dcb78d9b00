"""`prodloop review`."""

from __future__ import annotations

import click


@click.group("review")
def review() -> None:
    """review commands."""
