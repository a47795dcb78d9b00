"""`prodloop backlog`."""

from __future__ import annotations

import click


@click.group("backlog")
def backlog() -> None:
    """backlog commands."""
