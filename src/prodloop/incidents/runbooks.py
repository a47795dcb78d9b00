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
    ---

`runbook_for` picks the runbook that covers an alert's labels, and `check_runbooks`
finds alert rules nobody covers and `prodloop …` commands the CLI does not have.
Loading never raises on a broken file: the problem is reported with its file and line.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import click
import yaml

from prodloop.alerting.rules import alert_rules
from prodloop.config import Config
from prodloop.errors import ProdloopError

MatchOp = Literal["=", "!=", "=~", "!~"]
FIELDS = ("title", "owner", "alerts", "steps", "last_drilled")
REQUIRED = ("title", "owner", "alerts")
PLACEHOLDER_SERVICE = "any-service"  # stands in for the services of a config that has none

_MATCHER = re.compile(
    r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^,"\s]+))\s*(?:,|$)'
)
_ALERTNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_:]*$")
_INLINE_COMMAND = re.compile(r"`(prodloop [^`]+)`")
_SHELL_BREAKS = frozenset({"|", "||", "&&", ";", ">", ">>", "<", "2>"})


class RunbookError(ProdloopError):
    """A runbook file is broken; carries the file and line."""

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line

    def __str__(self) -> str:
        return str(Problem(self.path, self.line, self.message))


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing `runbook check` found wrong; `path` is empty when it is about the config."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path or "config"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher: `service="chat"`, `alertname=~"Canary.+"`."""

    label: str
    op: MatchOp
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.label, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        is_match = re.fullmatch(self.value, have) is not None
        return is_match if self.op == "=~" else not is_match

    def __str__(self) -> str:
        return f'{self.label}{self.op}"{self.value}"'


@dataclass(frozen=True, slots=True)
class Selector:
    """The alerts one `alerts:` entry covers: every matcher must match."""

    text: str
    matchers: tuple[Matcher, ...]
    line: int

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(matcher.matches(labels) for matcher in self.matchers)

    @property
    def specificity(self) -> int:
        """Equality matchers count more than patterns: the most specific runbook wins."""
        return sum(2 if matcher.op == "=" else 1 for matcher in self.matchers)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a runbook; `run` is the prodloop command that does it, if any."""

    title: str
    run: str | None
    line: int


@dataclass(frozen=True, slots=True)
class Command:
    """A `prodloop …` command written in a runbook, with where it was written."""

    text: str
    line: int


@dataclass(frozen=True, slots=True)
class Runbook:
    """A parsed runbook: its front matter, and its Markdown body."""

    name: str
    path: str
    title: str
    owner: str
    alerts: tuple[Selector, ...]
    steps: tuple[Step, ...]
    last_drilled: dt.date | None
    body: str
    body_line: int  # line of the file the body starts on

    def covers(self, labels: Mapping[str, str]) -> bool:
        return any(selector.matches(labels) for selector in self.alerts)

    def commands(self) -> list[Command]:
        """Every `prodloop …` command of the runbook: its steps', then its body's."""
        found = [Command(step.run, step.line) for step in self.steps if step.run]
        return found + body_commands(self.body, self.body_line)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "title": self.title,
            "owner": self.owner,
            "alerts": [selector.text for selector in self.alerts],
            "steps": [{"title": step.title, "run": step.run} for step in self.steps],
            "last_drilled": None if self.last_drilled is None else self.last_drilled.isoformat(),
        }


def parse_matchers(text: str, *, path: str = "", line: int = 0) -> tuple[Matcher, ...]:
    """A bare alertname, or Prometheus-style matchers: `slo="error-rate", severity=page`."""
    inner = text.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1].strip()
    if _ALERTNAME.match(inner):
        return (Matcher("alertname", "=", inner),)
    matchers: list[Matcher] = []
    position = 0
    while position < len(inner):
        found = _MATCHER.match(inner, position)
        if found is None or found.end() == position:
            raise RunbookError(
                f"'{text}' is not an alertname or label matchers "
                '(e.g. ErrorRateAboveThreshold or slo="error-rate", alertname=~".+Burn")',
                path=path,
                line=line,
            )
        label, op, quoted, bare = found.groups()
        op = cast(MatchOp, op)
        value = bare if quoted is None else re.sub(r"\\(.)", r"\1", quoted)
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise RunbookError(
                    f"'{value}' is not a regular expression: {exc}", path=path, line=line
                ) from None
        matchers.append(Matcher(label, op, value))
        position = found.end()
    if not matchers:
        raise RunbookError("an empty alert selector", path=path, line=line)
    return tuple(matchers)


def _split_front_matter(text: str, path: str) -> tuple[str, int]:
    """The front matter's YAML text and the line the body starts on (1-based)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise RunbookError(
            "no front matter: the file must start with a '---' line, then title, owner, "
            "alerts, steps and last_drilled, then '---'",
            path=path,
            line=1,
        )
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            return "\n".join(lines[1:index]), index + 2
    raise RunbookError("the front matter is never closed with '---'", path=path, line=1)


def _key_lines(node: yaml.MappingNode) -> dict[str, yaml.Node]:
    return {str(key.value): value for key, value in node.value}


def _text(value: Any, field: str, path: str, line: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RunbookError(f"'{field}' must be a non-empty text", path=path, line=line)
    return value.strip()


def _selectors(value: Any, node: yaml.Node, path: str, offset: int) -> tuple[Selector, ...]:
    line = node.start_mark.line + offset
    if value is None:
        return ()
    if not isinstance(value, list) or not isinstance(node, yaml.SequenceNode):
        raise RunbookError(
            "'alerts' must be a list of alertnames or label matchers", path=path, line=line
        )
    selectors = []
    for item, item_node in zip(value, node.value, strict=True):
        item_line = item_node.start_mark.line + offset
        if isinstance(item, dict):  # {service: chat, alertname: X}: equality matchers
            item = ", ".join(f'{key}="{val}"' for key, val in item.items())
        if not isinstance(item, str):
            raise RunbookError(f"alert selector {item!r} must be a text", path=path, line=item_line)
        matchers = parse_matchers(item, path=path, line=item_line)
        selectors.append(Selector(item.strip(), matchers, item_line))
    return tuple(selectors)


def _steps(value: Any, node: yaml.Node | None, path: str, offset: int) -> tuple[Step, ...]:
    if value is None or node is None:
        return ()
    line = node.start_mark.line + offset
    if not isinstance(value, list) or not isinstance(node, yaml.SequenceNode):
        raise RunbookError("'steps' must be a list", path=path, line=line)
    steps = []
    for item, item_node in zip(value, node.value, strict=True):
        item_line = item_node.start_mark.line + offset
        if isinstance(item, str):
            item = {"title": item, "run": item} if item.startswith("prodloop ") else {"title": item}
        if not isinstance(item, dict):
            raise RunbookError(
                "a step is a text, or a mapping with 'title' and 'run'", path=path, line=item_line
            )
        unknown = sorted(set(item) - {"title", "run"})
        if unknown:
            raise RunbookError(
                f"unknown step field '{unknown[0]}' (use title, run)", path=path, line=item_line
            )
        title = _text(item.get("title"), "title", path, item_line)
        run = item.get("run")
        if run is not None:
            run = _text(run, "run", path, item_line)
            if not run.startswith("prodloop "):
                raise RunbookError(
                    f"step command '{run}' is not a prodloop command", path=path, line=item_line
                )
        if isinstance(item_node, yaml.MappingNode) and "run" in _key_lines(item_node):
            item_line = _key_lines(item_node)["run"].start_mark.line + offset
        steps.append(Step(title, run, item_line))
    return tuple(steps)


def _date(value: Any, path: str, line: int) -> dt.date | None:
    if value is None or value == "never":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise RunbookError(
        f"'last_drilled' must be a date (YYYY-MM-DD) or null, not {value!r}", path=path, line=line
    )


def parse_runbook(text: str, path: str = "runbook.md") -> Runbook:
    """A runbook from its file's text; a broken front matter raises RunbookError with its line."""
    front, body_line = _split_front_matter(text, path)
    offset = 2  # the YAML starts on the file's second line
    loader = yaml.SafeLoader(front)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + offset
        reason = exc.problem or "invalid YAML"
        raise RunbookError(
            f"invalid YAML in the front matter: {reason}", path=path, line=line
        ) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date like 2026-13-45
        raise RunbookError(
            f"invalid value in the front matter: {exc}", path=path, line=offset
        ) from None
    except yaml.YAMLError as exc:
        raise RunbookError(
            f"invalid YAML in the front matter: {exc}", path=path, line=offset
        ) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise RunbookError(
            "the front matter must be a mapping (title: …, owner: …)", path=path, line=offset
        )
    nodes = _key_lines(node)

    def line_of(field: str) -> int:
        return nodes[field].start_mark.line + offset if field in nodes else offset

    for key in data:
        if key not in FIELDS:
            fields = ", ".join(FIELDS)
            message = f"unknown field '{key}' (use {fields})"
            raise RunbookError(message, path=path, line=line_of(str(key)))
    for field in REQUIRED:
        if field not in data:
            raise RunbookError(f"missing field '{field}'", path=path, line=offset)

    return Runbook(
        name=Path(path).stem,
        path=path,
        title=_text(data["title"], "title", path, line_of("title")),
        owner=_text(data["owner"], "owner", path, line_of("owner")),
        alerts=_selectors(data["alerts"], nodes["alerts"], path, offset),
        steps=_steps(data.get("steps"), nodes.get("steps"), path, offset),
        last_drilled=_date(data.get("last_drilled"), path, line_of("last_drilled")),
        body="\n".join(text.splitlines()[body_line - 1 :]),
        body_line=body_line,
    )


def body_commands(body: str, first_line: int = 1) -> list[Command]:
    """`prodloop …` commands in a Markdown body: code spans, and lines of code blocks."""
    found: list[Command] = []
    is_fenced = False
    for number, line in enumerate(body.splitlines(), start=first_line):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            is_fenced = not is_fenced
            continue
        if is_fenced:
            command = stripped.removeprefix("$ ")
            if command.startswith("prodloop "):
                found.append(Command(command, number))
            continue
        found.extend(Command(match.group(1), number) for match in _INLINE_COMMAND.finditer(line))
    return found


def load_runbooks(folder: Path | str) -> tuple[list[Runbook], list[Problem]]:
    """Every `*.md` runbook of a folder, by name, and the problems of the ones that are broken."""
    root = Path(folder)
    runbooks: list[Runbook] = []
    problems: list[Problem] = []
    for path in sorted(root.glob("*.md")):
        try:
            runbooks.append(parse_runbook(path.read_text(encoding="utf-8"), str(path)))
        except RunbookError as exc:
            problems.append(Problem(exc.path, exc.line, exc.message))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), None, f"cannot read it: {exc}"))
    return runbooks, problems


def runbook_for(labels: Mapping[str, str], runbooks: Sequence[Runbook]) -> Runbook | None:
    """The runbook covering an alert's labels: the most specific selector wins, then the name."""
    best: tuple[int, Runbook] | None = None
    for runbook in sorted(runbooks, key=lambda item: item.name):
        for selector in runbook.alerts:
            if selector.matches(labels) and (best is None or selector.specificity > best[0]):
                best = (selector.specificity, runbook)
    return None if best is None else best[1]


def runbook_link(
    labels: Mapping[str, str], runbooks: Sequence[Runbook], base_url: str | None = None
) -> str | None:
    """The link to the runbook covering an alert: its path, under `base_url` when given."""
    found = runbook_for(labels, runbooks)
    if found is None:
        return None
    if base_url is None:
        return found.path
    return f"{base_url.rstrip('/')}/{found.path.lstrip('/')}"


def record_drill(path: Path | str, day: dt.date) -> Runbook:
    """Set a runbook's `last_drilled` to `day` in its file, keeping the rest of the text."""
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    parse_runbook(text, str(file))  # refuse to edit a broken runbook
    lines = text.splitlines(keepends=True)
    _, body_line = _split_front_matter(text, str(file))
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
            sub = command.commands.get(token)
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
