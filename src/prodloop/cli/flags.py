"""`prodloop flags`: create, target, roll out, kill and inspect feature flags."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy.engine import Engine

from prodloop.cli.options import config_option
from prodloop.cli.tables import render_table
from prodloop.clock import SystemClock
from prodloop.config import load_config
from prodloop.errors import ValidationError
from prodloop.releases.flags.model import Flag, flag_from_dict
from prodloop.releases.flags.store import (
    create_flag,
    flag_audit_log,
    get_flag,
    kill_flag,
    list_flags,
    set_rollout,
    update_flag,
)
from prodloop.store import connect

by_option = click.option(
    "--by",
    default=getpass.getuser,
    show_default="the OS user",
    help="who makes the change (the audit log keeps it)",
)


def _engine(config_file: str | None) -> Engine:
    return connect(load_config(config_file).store.url)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_variant(text: str) -> tuple[str, Any]:
    """("blue", {"x": 1}) from 'blue={"x": 1}'; a value that is not JSON is a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValidationError(f"expected name=value, got {text!r}", field="--variant")
    return name.strip(), _json_or_text(value.strip())


def parse_rule_text(text: str, index: int) -> dict[str, Any]:
    """A rule's JSON form from '<attribute> <operator> <value> -> <variant>'.

    The value is JSON when it parses (``["DE","FR"]``, ``42``), else text; for in/not_in a
    bare comma list is accepted (``DE,FR``). The target is a variant name, or a split
    such as ``on:20,off:80``.
    """
    where = f"--rule[{index}]"
    condition, arrow, target = text.rpartition("->")
    parts = condition.split(None, 2)
    if not arrow or len(parts) != 3 or not target.strip():
        raise ValidationError(
            f"expected '<attribute> <operator> <value> -> <variant>', got {text!r}", field=where
        )
    attribute, operator, raw = parts
    value = _json_or_text(raw.strip())
    if operator in ("in", "not_in") and isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    rule: dict[str, Any] = {"attribute": attribute, "operator": operator, "value": value}
    target = target.strip()
    if ":" in target:
        weights: dict[str, float] = {}
        for part in target.split(","):
            name, _, percent = part.partition(":")
            try:
                weights[name.strip()] = float(percent)
            except ValueError as exc:
                raise ValidationError(f"not a percentage: {part!r}", field=where) from exc
        rule["split"] = {"weights": weights}
    else:
        rule["variant"] = target
    return rule


def _describe(flag: Flag) -> str:
    state = "on" if flag.is_enabled else "off"
    if flag.rollout is not None:
        split = ", ".join(f"{name} {percent:g}%" for name, percent in flag.rollout.weights)
        state += f", rollout {split} (sticky on {flag.rollout.attribute or flag.sticky_attribute})"
    return state


def _print(flag: Flag, verb: str) -> None:
    click.echo(f"{verb} flag '{flag.key}' (revision {flag.revision}): {_describe(flag)}")


@click.group()
def flags() -> None:
    """Feature flags: create, set rules, roll out, kill, list, show, audit."""


@flags.command()
@config_option
@click.argument("key")
@click.option(
    "--kind",
    type=click.Choice(["boolean", "multivariate"]),
    default="boolean",
    show_default=True,
)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    help="name=value, repeatable (value as JSON, e.g. blue='{\"temp\": 0.2}'); "
    "boolean flags default to on=true, off=false",
)
@click.option(
    "--default", "default_variant", default=None, help="served when on and no rule matches"
)
@click.option("--off", "off_variant", default=None, help="served when the flag is off or killed")
@click.option("--description", default="", help="what the flag is for")
@by_option
def create(
    config_file: str | None,
    key: str,
    kind: str,
    variants: tuple[str, ...],
    default_variant: str | None,
    off_variant: str | None,
    description: str,
    by: str,
) -> None:
    """Create a flag (off until `set KEY --on` or `rollout`)."""
    document: dict[str, Any] = {"key": key, "kind": kind, "description": description}
    if variants:
        document["variants"] = dict(parse_variant(text) for text in variants)
    if default_variant:
        document["default_variant"] = default_variant
    if off_variant:
        document["off_variant"] = off_variant
    flag = flag_from_dict(document)
    _print(create_flag(_engine(config_file), flag, by=by, now=SystemClock().now()), "created")


@flags.command("set")
@config_option
@click.argument("key")
@click.option("--on/--off", "enabled", default=None, help="turn the flag on or off")
@click.option(
    "--rule",
    "rules",
    multiple=True,
    help="'<attribute> <operator> <value> -> <variant>', repeatable, in order; replaces "
    "the flag's rules (operators: equals, not_equals, in, not_in, regex, semver_eq/lt/lte/"
    "gt/gte, lt, lte, gt, gte)",
)
@click.option("--clear-rules", is_flag=True, help="remove every rule")
@click.option("--clear-rollout", is_flag=True, help="remove the percentage rollout")
@click.option("--default", "default_variant", default=None, help="the default variant")
@click.option("--off-variant", default=None, help="the off variant")
@by_option
def set_flag(
    config_file: str | None,
    key: str,
    enabled: bool | None,
    rules: tuple[str, ...],
    clear_rules: bool,
    clear_rollout: bool,
    default_variant: str | None,
    off_variant: str | None,
    by: str,
) -> None:
    """Turn a flag on or off and set its targeting rules."""
    changes: dict[str, Any] = {}
    if enabled is not None:
        changes["enabled"] = enabled
    if rules and clear_rules:
        raise ValidationError("give --rule or --clear-rules, not both", field="--rule")
    if rules or clear_rules:
        changes["rules"] = [parse_rule_text(text, i) for i, text in enumerate(rules)]
    if clear_rollout:
        changes["rollout"] = None
    if default_variant:
        changes["default_variant"] = default_variant
    if off_variant:
        changes["off_variant"] = off_variant
    if not changes:
        raise ValidationError("nothing to change (see --help)", field="options")
    flag = update_flag(_engine(config_file), key, changes, by=by, now=SystemClock().now())
    _print(flag, "updated")


@flags.command()
@config_option
@click.argument("key")
@click.argument("percent", type=click.FloatRange(0, 100))
@click.option("--variant", default=None, help="the variant to roll out (default: on / default)")
@click.option("--sticky", default=None, help="the context attribute users stick on")
@by_option
def rollout(
    config_file: str | None,
    key: str,
    percent: float,
    variant: str | None,
    sticky: str | None,
    by: str,
) -> None:
    """Serve a variant to PERCENT % of users, sticky per user, and turn the flag on."""
    flag = set_rollout(
        _engine(config_file),
        key,
        percent,
        by=by,
        now=SystemClock().now(),
        variant=variant,
        sticky_attribute=sticky,
    )
    _print(flag, "rolled out")


@flags.command()
@config_option
@click.argument("key")
@by_option
def kill(config_file: str | None, key: str, by: str) -> None:
    """Turn a flag off at once: everyone gets its off variant."""
    _print(kill_flag(_engine(config_file), key, by=by, now=SystemClock().now()), "killed")


@flags.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def list_command(config_file: str | None, as_json: bool) -> None:
    """Every flag, its state and its rollout."""
    found = list_flags(_engine(config_file))
    if as_json:
        click.echo(json.dumps({"flags": [f.to_dict() for f in found]}, indent=2))
        return
    if not found:
        click.echo("no flags yet: prodloop flags create KEY")
        return
    rows = [
        [f.key, f.kind, _describe(f), str(len(f.rules)), str(f.revision), f.updated_by]
        for f in found
    ]
    click.echo(render_table(["key", "kind", "state", "rules", "revision", "by"], rows))


@flags.command()
@config_option
@click.argument("key")
def show(config_file: str | None, key: str) -> None:
    """A flag's full definition, as JSON."""
    click.echo(json.dumps(get_flag(_engine(config_file), key).to_dict(), indent=2))


@flags.command()
@config_option
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="print JSON, with before and after")
def audit(config_file: str | None, key: str, as_json: bool) -> None:
    """Every change of a flag, newest first."""
    engine = _engine(config_file)
    get_flag(engine, key)
    entries = flag_audit_log(engine, key)
    if as_json:
        click.echo(json.dumps({"entries": [e.to_dict() for e in entries]}, indent=2))
        return
    rows = []
    for entry in entries:
        when = datetime.fromtimestamp(entry.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        revision = (entry.after or {}).get("revision", "")
        rows.append([when, entry.action, entry.by, str(revision)])
    click.echo(render_table(["at (UTC)", "action", "by", "revision"], rows))
