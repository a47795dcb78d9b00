"""`prodloop feedback`."""

from __future__ import annotations

import click


@click.group("feedback")
def feedback() -> None:
    """feedback commands."""
