"""`prodloop launch`."""

from __future__ import annotations

import click


@click.group("launch")
def launch() -> None:
    """launch commands."""
