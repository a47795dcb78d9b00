"""Runbooks: Markdown files with YAML front matter that say which alerts they cover.

A runbook starts with a front matter block::

    ---
    title: Triage an alert
    owner: on-call
    alerts:                      # alertnames, or label matchers like Alertmanager's
      - LatencyP95AboveThreshold
      - 'slo="error-rate", severity="page"'
      - 'alertname=~".+BudgetBurn"'
    steps:
      - title: See what fires
        run: prodloop alerts
    last_drilled: 2026-11-20     # or null
    targets:                     # what a drill is measured against (defaults: the guide's)
      detect: 5m
      first_update: 15m
    ---

The front matter parsing and `runbook_for` live in `prodloop.alerting.runbook_links`, so
alert notifications can link the covering runbook too; they are re-exported here.
`check_runbooks` finds alert rules nobody covers and `prodloop …` commands the CLI does not
have. Loading never raises on a broken file: the problem is reported with its file and line.
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import click

from prodloop.alerting.rules import alert_rules
from prodloop.alerting.runbook_links import (
    FIELDS,
    REQUIRED,
    TARGETS,
    Command,
    Matcher,
    MatchOp,
    Problem,
    Runbook,
    RunbookError,
    Selector,
    Step,
    body_commands,
    load_runbooks,
    parse_matchers,
    parse_runbook,
    runbook_for,
    runbook_link,
    split_front_matter,
)
from prodloop.config import Config

__all__ = [
    "FIELDS",
    "PLACEHOLDER_SERVICE",
    "REQUIRED",
    "TARGETS",
    "Command",
    "MatchOp",
    "Matcher",
    "Problem",
    "Runbook",
    "RunbookError",
    "Selector",
    "Step",
    "body_commands",
    "check_runbooks",
    "command_problem",
    "covered_alerts",
    "load_runbooks",
    "parse_matchers",
    "parse_runbook",
    "record_drill",
    "runbook_for",
    "runbook_link",
    "shipped_runbooks",
]

PLACEHOLDER_SERVICE = "any-service"  # stands in for the services of a config that has none

_SHELL_BREAKS = frozenset({"|", "||", "&&", ";", ">", ">>", "<", "2>"})


def record_drill(path: Path | str, day: dt.date) -> Runbook:
    """Set a runbook's `last_drilled` to `day` in its file, keeping the rest of the text."""
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    parse_runbook(text, str(file))  # refuse to edit a broken runbook
    lines = text.splitlines(keepends=True)
    _, body_line = split_front_matter(text, str(file))
    closing = body_line - 2  # index of the closing '---'
    entry = f"last_drilled: {day.isoformat()}\n"
    for index in range(1, closing):
        if lines[index].startswith("last_drilled:"):
            lines[index] = entry
            break
    else:
        lines.insert(closing, entry)
    updated = "".join(lines)
    file.write_text(updated, encoding="utf-8")
    return parse_runbook(updated, str(file))


def _option_takes_value(option: click.Parameter) -> bool:
    return isinstance(option, click.Option) and not option.is_flag and not option.count


def command_problem(text: str, cli: click.Command) -> str | None:
    """Why a `prodloop …` command line would not run (unknown command or option), or None."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        return f"`{text}`: cannot split it into words ({exc})"
    if not tokens or tokens[0] != "prodloop":
        return f"`{text}` is not a prodloop command"
    command, path = cli, ["prodloop"]
    is_dispatched = not isinstance(cli, click.Group)
    skip_next = False
    for token in tokens[1:]:
        if token in _SHELL_BREAKS:
            break
        if skip_next:
            skip_next = False
            continue
        if token.startswith("-") and token != "-":
            name = token.split("=", 1)[0]
            options = {
                opt: param
                for param in command.get_params(click.Context(command))
                for opt in (*param.opts, *param.secondary_opts)
            }
            if name not in options:
                return f"`{text}`: `{' '.join(path)}` has no option {name}"
            skip_next = "=" not in token and _option_takes_value(options[name])
            continue
        if isinstance(command, click.Group) and not is_dispatched:
            sub = command.get_command(click.Context(command), token)  # lazy groups load it
            if sub is None:
                return f"`{text}`: `{' '.join(path)}` has no command '{token}'"
            command, path = sub, [*path, token]
            is_dispatched = not isinstance(sub, click.Group)
    if (
        isinstance(command, click.Group)
        and not is_dispatched
        and not command.invoke_without_command
    ):
        return f"`{text}`: `{' '.join(path)}` needs a subcommand"
    return None


def _rule_services(config: Config) -> list[str]:
    return sorted(config.services) or [PLACEHOLDER_SERVICE]


def _coverage_problems(runbooks: Sequence[Runbook], config: Config) -> list[Problem]:
    uncovered: dict[str, set[str]] = {}
    for rule in alert_rules(config, _rule_services(config)):
        if runbook_for(rule.labels, runbooks) is None:
            uncovered.setdefault(rule.alertname, set()).add(rule.service)
    problems = []
    for alertname, services in uncovered.items():
        names = ", ".join(sorted(services))
        where = "" if services == {PLACEHOLDER_SERVICE} else f" (services: {names})"
        message = f"alert {alertname}{where} has no runbook: list it under `alerts:`"
        problems.append(Problem("", None, message))
    return problems


def _link_problems(runbooks: Sequence[Runbook], config: Config) -> list[Problem]:
    """SLO `runbook` links that name no runbook, or another one than the front matter does."""
    by_file = {Path(runbook.path).name: runbook for runbook in runbooks}
    problems = []
    for slo in config.slos.objectives:
        link = slo.runbook
        if link is None or "://" in link:
            continue
        linked = by_file.get(Path(link).name)
        if linked is None:
            message = f"SLO {slo.name} links runbook {link}, which is not in the folder"
            problems.append(Problem("", None, message))
            continue
        for rule in alert_rules(config, _rule_services(config)):
            covering = runbook_for(rule.labels, runbooks)
            if rule.slo.name == slo.name and covering is not None and covering is not linked:
                message = (
                    f"SLO {slo.name} links runbook {link}, but {rule.alertname} is covered "
                    f"by {Path(covering.path).name}: alerts and incidents would disagree"
                )
                problems.append(Problem("", None, message))
                break
    return problems


def check_runbooks(
    runbooks: Sequence[Runbook], config: Config, cli: click.Command
) -> list[Problem]:
    """Alert rules no runbook covers, SLO runbook links that disagree, unknown commands."""
    problems = _coverage_problems(runbooks, config) + _link_problems(runbooks, config)
    for runbook in runbooks:
        for command in runbook.commands():
            why = command_problem(command.text, cli)
            if why is not None:
                problems.append(Problem(runbook.path, command.line, why))
    return problems


def covered_alerts(runbook: Runbook, runbooks: Sequence[Runbook], config: Config) -> list[str]:
    """The alertnames of the config's rules this runbook is the one for, among `runbooks`."""
    rules = alert_rules(config, _rule_services(config))
    names = (rule.alertname for rule in rules if runbook_for(rule.labels, runbooks) is runbook)
    return sorted(set(names))


def shipped_runbooks() -> Traversable:
    """The runbooks prodloop ships (triage, restart, rollback), written for prodloop itself;
    `prodloop init` copies them into a project's ops/runbooks."""
    return resources.files("prodloop").joinpath("templates/runbooks")
