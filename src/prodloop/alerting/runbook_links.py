"""Runbook front matter and which runbook covers an alert, for alerts and incidents alike.

A runbook is a Markdown file whose front matter lists the alerts it covers (alertnames, or
label matchers like Alertmanager's). `runbook_for` picks the one covering an alert's labels;
`cached_runbooks` loads a folder once and again only when its files change, so notifications
and incidents can link the covering runbook on every tick without reading the folder each time.
Loading never raises on a broken file: the problem is reported with its file and line.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from prodloop.durations import parse_duration
from prodloop.errors import ProdloopError, ValidationError

MatchOp = Literal["=", "!=", "=~", "!~"]
FIELDS = ("title", "owner", "alerts", "steps", "last_drilled", "targets")
# What a drill measures, in the order it happens; a runbook may set a target for each.
TARGETS = ("detect", "page", "acknowledge", "mitigate", "first_update")
REQUIRED = ("title", "owner", "alerts")

_MATCHER = re.compile(
    r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^,"\s]+))\s*(?:,|$)'
)
_ALERTNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_:]*$")
_INLINE_COMMAND = re.compile(r"`(prodloop [^`]+)`")


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
    targets: Mapping[str, float] = dataclass_field(default_factory=dict)  # seconds, by TARGETS name

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
            "targets": dict(self.targets),
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


def split_front_matter(text: str, path: str) -> tuple[str, int]:
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


def _targets(value: Any, node: yaml.Node | None, path: str, offset: int) -> dict[str, float]:
    """`targets: {detect: 5m, …}` as seconds; a bad name or duration names its line."""
    if value is None or node is None:
        return {}
    line = node.start_mark.line + offset
    if not isinstance(value, dict) or not isinstance(node, yaml.MappingNode):
        names = ", ".join(TARGETS)
        raise RunbookError(
            f"'targets' must be a mapping of durations ({names})", path=path, line=line
        )
    found: dict[str, float] = {}
    for key, item in _key_lines(node).items():
        item_line = item.start_mark.line + offset
        if key not in TARGETS:
            names = ", ".join(TARGETS)
            raise RunbookError(f"unknown target '{key}' (use {names})", path=path, line=item_line)
        raw = value[key]
        try:
            found[key] = parse_duration(raw if isinstance(raw, str) else "", field=key)
        except ValidationError:
            message = f"target '{key}' must be a duration like 5m or 90s, not {raw!r}"
            raise RunbookError(message, path=path, line=item_line) from None
    return found


def parse_runbook(text: str, path: str = "runbook.md") -> Runbook:
    """A runbook from its file's text; a broken front matter raises RunbookError with its line."""
    front, body_line = split_front_matter(text, path)
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
        targets=_targets(data.get("targets"), nodes.get("targets"), path, offset),
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
    return None if found is None else _link(found, base_url)


def _link(runbook: Runbook, base_url: str | None) -> str:
    if base_url is None:
        return runbook.path
    return f"{base_url.rstrip('/')}/{runbook.path.lstrip('/')}"


Fingerprint = tuple[tuple[str, int, int], ...]

_cache_lock = threading.Lock()
_cache: dict[str, tuple[Fingerprint, tuple[Runbook, ...]]] = {}


def _fingerprint(root: Path) -> Fingerprint:
    """Each runbook file's name, modification time and size: what changes when one is edited."""
    found = []
    for path in sorted(root.glob("*.md")):
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def cached_runbooks(folder: Path | str) -> tuple[Runbook, ...]:
    """A folder's good runbooks, parsed once and again only when a file is added, edited or gone.

    A missing folder has no runbooks; broken files are left out (`runbook check` reports them).
    """
    root = Path(folder)
    if not root.is_dir():
        return ()
    key = str(root)
    stamp = _fingerprint(root)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    runbooks = tuple(load_runbooks(root)[0])
    with _cache_lock:
        _cache[key] = (stamp, runbooks)
    return runbooks


def covering_runbook_link(
    labels: Mapping[str, str],
    folder: Path | str | None,
    base_url: str | None,
    fallback: str | None,
) -> str | None:
    """The link to the runbook of `folder` covering an alert, else `fallback` (the SLO's link).

    When `fallback` already names the covering runbook's file it is kept as it is: it may be
    a full URL the alert was given when it fired.
    """
    if folder is None:
        return fallback
    found = runbook_for(labels, cached_runbooks(folder))
    if found is None:
        return fallback
    if fallback is not None and _file_name(fallback) == Path(found.path).name:
        return fallback
    return _link(found, base_url)


def _file_name(link: str) -> str:
    """The last path segment of a path or URL, without a query or fragment."""
    return link.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
