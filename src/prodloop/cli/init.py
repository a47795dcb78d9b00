"""`prodloop init`: write a commented prodloop.yaml with the guide's targets."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from prodloop.config import DEFAULT_CONFIG_FILE, parse_config


def config_template() -> str:
    return resources.files("prodloop").joinpath("templates/prodloop.yaml").read_text("utf-8")


@click.command()
@click.option(
    "--path",
    "path",
    default=DEFAULT_CONFIG_FILE,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="where to write the config",
)
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init(path: Path, force: bool) -> None:
    """Write a commented prodloop.yaml whose defaults are the guide's targets."""
    if path.exists() and not force:
        raise click.UsageError(f"{path} exists already (use --force to overwrite it)")
    text = config_template()
    parse_config(text, path=str(path), environ={})  # never write a file we would refuse
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}")
    click.echo("next: export OPENAI_API_KEY, PRODLOOP_GATEWAY_KEY, PRODLOOP_API_TOKEN and")
    click.echo("PRODLOOP_INGEST_KEY, then run `prodloop up`")
