"""Entry point of the `prodloop` command."""

from __future__ import annotations

import importlib
import sys

import click

from prodloop import __version__
from prodloop.errors import ProdloopError

# Each command is imported when it runs, not when `prodloop` starts: together they import
# the gateway, the control plane with its dashboard, numpy and more, which every command
# would pay for (about a second) even for --help.
COMMANDS: dict[str, str] = {
    "init": "prodloop.cli.init:init",
    "up": "prodloop.cli.up:up",
    "stats": "prodloop.cli.stats:stats",
    "slo": "prodloop.cli.slo:slo",
    "alerts": "prodloop.cli.alerts:alerts",
    "oncall": "prodloop.cli.oncall:oncall",
    "export": "prodloop.cli.export:export",
    "db": "prodloop.cli.db:db",
    "demo": "prodloop.cli.demo:demo",
    "demo-upstream": "prodloop.cli.demo:demo_upstream",
    "artifact": "prodloop.cli.artifact:artifact",
    "deploy": "prodloop.cli.releases:deploy",
    "rollout": "prodloop.cli.releases:rollout",
    "rollback": "prodloop.cli.releases:rollback",
    "weights": "prodloop.cli.releases:weights_command",
    "flags": "prodloop.cli.flags:flags",
    "incident": "prodloop.cli.incidents:incident",
    "status": "prodloop.cli.incidents:status",
    "postmortem": "prodloop.cli.incidents:postmortem",
    "runbook": "prodloop.cli.runbooks:runbook",
    "statuspage": "prodloop.cli.statuspage:statuspage",
    "drill": "prodloop.cli.drill:drill",
    "feedback": "prodloop.cli.feedback:feedback",
    "analytics": "prodloop.cli.analytics:analytics",
    "users": "prodloop.cli.users:users",
    "tokens": "prodloop.cli.users:tokens",
    "review": "prodloop.cli.review:review",
    "backlog": "prodloop.cli.backlog:backlog",
    "experiment": "prodloop.cli.experiment:experiment",
    "launch": "prodloop.cli.launch:launch",
}
# Subcommands that live in another module than their group.
SUBCOMMANDS: dict[str, dict[str, str]] = {
    "slo": {"export": "prodloop.cli.export:slo_export"},
    "review": {"quarterly": "prodloop.cli.review_quarterly:quarterly"},
}


def _load(spec: str) -> click.Command:
    module, _, name = spec.partition(":")
    command = getattr(importlib.import_module(module), name)
    assert isinstance(command, click.Command), spec
    return command


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        command = _load(COMMANDS[cmd_name])
        if isinstance(command, click.Group):
            for name, spec in SUBCOMMANDS.get(cmd_name, {}).items():
                command.add_command(_load(spec), name)
        self.add_command(command, cmd_name)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prodloop")
def cli() -> None:
    """prodloop runs the production loop of an LLM application."""


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
