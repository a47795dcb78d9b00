"""`prodloop init`: write a commented prodloop.yaml with the guide's targets, and on request
the CI pipeline that deploys through prodloop."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import click

from prodloop import __version__
from prodloop.config import DEFAULT_CONFIG_FILE, parse_config
from prodloop.incidents.runbooks import shipped_runbooks

WORKFLOW_DIR = Path(".github") / "workflows"
GITHUB_WORKFLOWS = ("prod.yml", "rollback.yml")
DEFAULT_TEST_COMMAND = "make test"
DEFAULT_BUILD_COMMAND = "python -m pip wheel --no-deps --wheel-dir dist ."


RUNBOOKS_DIR = Path("ops/runbooks")


def config_template() -> str:
    return resources.files("prodloop").joinpath("templates/prodloop.yaml").read_text("utf-8")


def _one_line(value: str, option: str) -> str:
    value = value.strip()
    if not value or "\n" in value or "\r" in value:
        raise click.BadParameter("must be one non-empty line", param_hint=option)
    return value


def render_github_workflows(
    *,
    service: str,
    test_command: str = DEFAULT_TEST_COMMAND,
    build_command: str = DEFAULT_BUILD_COMMAND,
    python_version: str = "3.11",
    prodloop_package: str = f"prodloop=={__version__}",
) -> dict[str, str]:
    """The GitHub Actions workflows by file name, filled in for one service."""
    # Scalars go in as JSON strings, which YAML reads as double-quoted scalars; commands go
    # into literal blocks, where any single line is taken as written.
    values = {
        "__SERVICE__": json.dumps(service),
        "__DEPLOY_GROUP__": json.dumps(f"prodloop-deploy-{service}"),
        "__PRODLOOP_PACKAGE__": json.dumps(prodloop_package),
        "__PYTHON_VERSION__": json.dumps(python_version),
        "__TEST_COMMAND__": test_command,
        "__BUILD_COMMAND__": build_command,
    }
    rendered = {}
    templates = resources.files("prodloop").joinpath("templates/github")
    for name in GITHUB_WORKFLOWS:
        text = templates.joinpath(name).read_text("utf-8")
        for marker, value in values.items():
            text = text.replace(marker, value)
        rendered[name] = text
    return rendered


@click.command()
@click.option(
    "--path",
    "path",
    default=DEFAULT_CONFIG_FILE,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="where to write the config",
)
@click.option("--force", is_flag=True, help="overwrite existing files")
@click.option(
    "--ci",
    type=click.Choice(["github"]),
    default=None,
    help="also write CI workflows (.github/workflows/ beside the config): build → test → "
    "sign → canary deploy, and a manual rollback",
)
@click.option("--service", default="chat", show_default=True, help="service the workflows deploy")
@click.option(
    "--test-command",
    default=DEFAULT_TEST_COMMAND,
    show_default=True,
    help="the project's test command, run by the workflow's test job",
)
@click.option(
    "--build-command",
    default=DEFAULT_BUILD_COMMAND,
    show_default=True,
    help="builds the artifact to sign and deploy; must leave it as the only file in dist/",
)
@click.option("--python-version", default="3.11", show_default=True, help="Python on the runners")
def init(
    path: Path,
    force: bool,
    ci: str | None,
    service: str,
    test_command: str,
    build_command: str,
    python_version: str,
) -> None:
    """Write a commented prodloop.yaml whose defaults are the guide's targets.

    With --ci github, also write .github/workflows/prod.yml (every push to main: build,
    test, sign, deploy a canary, wait for its verdict) and rollback.yml (manual dispatch),
    and keep a prodloop.yaml that exists already.
    """
    if ci is None:
        _write_config(path, force)
        return
    workflows = render_github_workflows(
        service=_one_line(service, "--service"),
        test_command=_one_line(test_command, "--test-command"),
        build_command=_one_line(build_command, "--build-command"),
        python_version=_one_line(python_version, "--python-version"),
    )
    directory = path.parent / WORKFLOW_DIR
    targets = {directory / name: text for name, text in workflows.items()}
    existing = [str(target) for target in targets if target.exists()]
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        raise click.UsageError(
            f"{' and '.join(existing)} already {verb} (use --force to overwrite)"
        )
    if path.exists():
        click.echo(f"kept {path}")
    else:
        _write_config(path, force)
    directory.mkdir(parents=True, exist_ok=True)
    for target, text in targets.items():
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target}")
    click.echo("next: in the repository's Actions settings, add the secrets")
    click.echo("PRODLOOP_DATABASE_URL and PRODLOOP_SIGNING_PRIVATE_KEY and the variables")
    click.echo("PRODLOOP_SIGNING_PUBLIC_KEY and PRODLOOP_UPSTREAM_URL (`prodloop artifact keygen`")
    click.echo("prints the key pair)")


def _write_config(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise click.UsageError(f"{path} exists already (use --force to overwrite it)")
    text = config_template()
    parse_config(text, path=str(path), environ={})  # never write a file we would refuse
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}")
    _write_runbooks(path.parent / RUNBOOKS_DIR)
    click.echo("next: export OPENAI_API_KEY, PRODLOOP_GATEWAY_KEY, PRODLOOP_API_TOKEN and")
    click.echo("PRODLOOP_INGEST_KEY, then run `prodloop up`")


def _write_runbooks(directory: Path) -> None:
    """prodloop's own runbooks (triage, restart, rollback), unless the project has some."""
    if directory.is_dir() and any(directory.glob("*.md")):
        click.echo(f"kept {directory}")
        return
    directory.mkdir(parents=True, exist_ok=True)
    for runbook in shipped_runbooks().iterdir():
        if runbook.name.endswith(".md"):
            (directory / runbook.name).write_text(runbook.read_text("utf-8"), encoding="utf-8")
    click.echo(f"wrote {directory}/ (triage, restart, rollback; `prodloop runbook check`)")
