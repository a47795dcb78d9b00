"""`prodloop runbook`: list, show, check and export the runbooks of `ops/runbooks`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from prodloop.cli.options import config_option
from prodloop.cli.tables import render_table
from prodloop.config import config_path, load_config
from prodloop.errors import NotFoundError, ValidationError
from prodloop.incidents.pdf import print_pdf
from prodloop.incidents.runbook_html import render_html
from prodloop.incidents.runbooks import (
    Problem,
    Runbook,
    check_runbooks,
    covered_alerts,
    load_runbooks,
)

DEFAULT_DIR = "ops/runbooks"

dir_option = click.option(
    "--dir",
    "folder",
    default=DEFAULT_DIR,
    show_default=True,
    help="folder of the runbooks (*.md with YAML front matter)",
)


def _folder(folder: str) -> Path:
    path = Path(folder)
    if not path.is_dir():
        raise ValidationError(f"{folder} is not a folder of runbooks", field="--dir")
    return path


def _warn(problems: list[Problem]) -> None:
    for problem in problems:
        click.secho(f"broken runbook: {problem}", fg="yellow", err=True)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _drilled(runbook: Runbook) -> str:
    return "never" if runbook.last_drilled is None else runbook.last_drilled.isoformat()


@click.group()
def runbook() -> None:
    """Runbooks: the alerts each covers, their steps, checks, a PDF for on-call."""


@runbook.command("list")
@dir_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def list_runbooks(folder: str, config_file: str | None, as_json: bool) -> None:
    """List runbooks: owner, steps, last drill and the alert rules each covers."""
    runbooks, problems = load_runbooks(_folder(folder))
    config = load_config(config_file)
    covered = {item.name: covered_alerts(item, runbooks, config) for item in runbooks}
    if as_json:
        items = [{**item.to_dict(), "covers": covered[item.name]} for item in runbooks]
        broken = [str(problem) for problem in problems]
        click.echo(json.dumps({"runbooks": items, "problems": broken}, indent=2))
        return
    _warn(problems)
    if not runbooks:
        click.echo(f"no runbooks in {folder}")
        return
    rows = [
        [
            item.name,
            item.title,
            item.owner,
            str(len(item.steps)),
            _drilled(item),
            str(len(covered[item.name])),
        ]
        for item in runbooks
    ]
    headers = ("name", "title", "owner", "steps", "last drilled", "alert rules")
    click.echo(render_table(headers, rows))
    click.echo()
    for item in runbooks:
        click.echo(f"{item.name} covers: {', '.join(covered[item.name]) or '-'}")


@runbook.command()
@click.argument("name")
@dir_option
def show(name: str, folder: str) -> None:
    """Print one runbook (NAME: its file name, .md optional)."""
    runbooks, problems = load_runbooks(_folder(folder))
    stem = name.removesuffix(".md")
    for problem in problems:
        if Path(problem.path).stem == stem:
            raise ValidationError(f"broken runbook: {problem}")
    found = next((item for item in runbooks if item.name == stem), None)
    if found is None:
        names = ", ".join(item.name for item in runbooks) or "none"
        raise NotFoundError(f"no runbook '{name}' in {folder} (there are: {names})")
    click.secho(found.title, bold=True)
    click.echo(f"owner: {found.owner}")
    click.echo(f"alerts: {', '.join(item.text for item in found.alerts) or '-'}")
    click.echo(f"last drilled: {_drilled(found)}")
    if found.steps:
        click.echo("steps:")
        for number, step in enumerate(found.steps, start=1):
            click.echo(f"  {number}. {step.title}")
            if step.run:
                click.echo(f"     $ {step.run}")
    click.echo()
    click.echo(found.body.strip())


@runbook.command()
@dir_option
@config_option
def check(folder: str, config_file: str | None) -> None:
    """Check runbooks against the config's alert rules and the CLI.

    Every alert rule must have a runbook (via `alerts:`), every SLO runbook link must
    name the runbook that covers its alerts, and every `prodloop …` command written in
    a runbook must exist. Exit 1 when a check fails, 2 when the folder or config is bad.
    """
    runbooks, problems = load_runbooks(_folder(folder))
    config = load_config(config_file)
    root = click.get_current_context().find_root().command
    if not runbooks and not problems:
        problems.append(Problem(folder, None, "no runbooks (*.md) in this folder"))
    problems.extend(check_runbooks(runbooks, config, root))
    commands = sum(len(item.commands()) for item in runbooks)
    # A problem about the config names the file to open, not just "config".
    chosen = config_path(config_file)
    config_label = str(chosen) if chosen.exists() else "config (built-in defaults)"
    for problem in problems:
        shown = problem if problem.path else Problem(config_label, problem.line, problem.message)
        click.secho(str(shown), fg="red")
    summary = f"{_count(len(runbooks), 'runbook')}, {_count(commands, 'command')} checked"
    if problems:
        click.echo(f"{summary}: {_count(len(problems), 'problem')}")
        sys.exit(1)
    click.echo(f"{summary}: every alert rule has a runbook and every command exists")


@runbook.command()
@dir_option
@click.option("--pdf", "fmt", flag_value="pdf", default=True, help="a PDF (default)")
@click.option("--html", "fmt", flag_value="html", help="the HTML the PDF is printed from")
@click.option("--output", "-o", default=None, help="file to write (default: runbooks.pdf/.html)")
def export(folder: str, fmt: str, output: str | None) -> None:
    """Write the runbooks into one PDF for on-call (printed by headless Chromium)."""
    runbooks, problems = load_runbooks(_folder(folder))
    if problems:
        _warn(problems)
        broken = _count(len(problems), "broken runbook")
        raise ValidationError(f"{broken}: fix them first", field="--dir")
    if not runbooks:
        raise ValidationError(f"no runbooks (*.md) in {folder}", field="--dir")
    target = Path(output or f"runbooks.{fmt}")
    document = render_html(runbooks)
    if fmt == "html":
        try:
            target.write_text(document, encoding="utf-8")
        except OSError as exc:
            raise ValidationError(
                f"cannot write {target}: {exc.strerror}", field="--output"
            ) from None
    else:
        click.echo(f"printing {len(runbooks)} runbooks with Chromium…", err=True)
        print_pdf(document, target)
    click.echo(f"wrote {target} ({len(runbooks)} runbooks, {target.stat().st_size} bytes)")
