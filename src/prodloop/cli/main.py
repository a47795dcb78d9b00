"""Entry point of the `prodloop` command."""

from __future__ import annotations

import sys

import click

from prodloop import __version__
from prodloop.cli.alerts import alerts
from prodloop.cli.analytics import analytics
from prodloop.cli.artifact import artifact
from prodloop.cli.backlog import backlog
from prodloop.cli.db import db
from prodloop.cli.demo import demo, demo_upstream
from prodloop.cli.drill import drill
from prodloop.cli.experiment import experiment
from prodloop.cli.export import export, slo_export
from prodloop.cli.feedback import feedback
from prodloop.cli.flags import flags
from prodloop.cli.incidents import incident, postmortem, status
from prodloop.cli.init import init
from prodloop.cli.launch import launch
from prodloop.cli.oncall import oncall
from prodloop.cli.releases import deploy, rollback, rollout, weights_command
from prodloop.cli.review import review
from prodloop.cli.review_quarterly import quarterly
from prodloop.cli.runbooks import runbook
from prodloop.cli.slo import slo
from prodloop.cli.stats import stats
from prodloop.cli.statuspage import statuspage
from prodloop.cli.up import up
from prodloop.cli.users import tokens, users
from prodloop.errors import ProdloopError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prodloop")
def cli() -> None:
    """prodloop runs the production loop of an LLM application."""


slo.add_command(slo_export, "export")
for command in (init, up, stats, slo, alerts, oncall, export, db, demo, demo_upstream, artifact):
    cli.add_command(command)
for command in (deploy, rollout, rollback, weights_command):
    cli.add_command(command)
cli.add_command(flags)
for command in (incident, status, postmortem):
    cli.add_command(command)
cli.add_command(runbook)
cli.add_command(statuspage)
cli.add_command(drill)
cli.add_command(feedback)
cli.add_command(analytics)
cli.add_command(users)
cli.add_command(tokens)
review.add_command(quarterly)
for command in (review, backlog, experiment, launch):
    cli.add_command(command)


def main() -> None:
    """Run the CLI; a prodloop error is one red line and exit code 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ProdloopError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
