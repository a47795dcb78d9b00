"""Targeting operators: each rule condition compiles once into a plain predicate.

A condition whose attribute is missing from the context never matches, whatever the
operator (``not_equals`` and ``not_in`` included), so an incomplete context is never
mistaken for a match. Text comparisons use `as_text`: strings as they are, anything else
as compact JSON (``5`` → ``"5"``, ``true`` → ``"true"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from prodloop.errors import ValidationError
from prodloop.releases.flags.semver import compare, parse_version

Predicate = Callable[[Mapping[str, Any]], bool]

_SEMVER_OPS: dict[str, Callable[[int], bool]] = {
    "semver_eq": lambda c: c == 0,
    "semver_lt": lambda c: c < 0,
    "semver_lte": lambda c: c <= 0,
    "semver_gt": lambda c: c > 0,
    "semver_gte": lambda c: c >= 0,
}
_NUMERIC_OPS = ("lt", "lte", "gt", "gte")
OPERATORS: tuple[str, ...] = (
    "equals",
    "not_equals",
    "in",
    "not_in",
    "regex",
    *_SEMVER_OPS,
    *_NUMERIC_OPS,
)


def as_text(value: object) -> str:
    """The text form of a context or rule value: strings unchanged, the rest compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def compile_condition(attribute: str, operator: str, value: Any, *, field: str) -> Predicate:
    """A predicate over a context for `attribute <operator> value`, or a ValidationError
    naming `field` (e.g. ``rules[0]``) when the condition cannot compile."""
    if not isinstance(attribute, str) or not attribute:
        raise ValidationError("must be a non-empty attribute name", field=f"{field}.attribute")
    if operator in ("equals", "not_equals"):
        if isinstance(value, list | dict):
            raise ValidationError(f"{operator} takes one value", field=f"{field}.value")
        wanted = as_text(value)
        if operator == "equals":
            return lambda ctx: (got := ctx.get(attribute)) is not None and as_text(got) == wanted
        return lambda ctx: (got := ctx.get(attribute)) is not None and as_text(got) != wanted
    if operator in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise ValidationError(f"{operator} takes a non-empty list", field=f"{field}.value")
        members = frozenset(as_text(v) for v in value)
        if operator == "in":
            return lambda ctx: (got := ctx.get(attribute)) is not None and as_text(got) in members
        return lambda ctx: (got := ctx.get(attribute)) is not None and as_text(got) not in members
    if operator == "regex":
        if not isinstance(value, str):
            raise ValidationError("regex takes a pattern string", field=f"{field}.value")
        try:
            search = re.compile(value).search
        except re.error as exc:
            raise ValidationError(f"not a valid regex: {exc}", field=f"{field}.value") from exc
        return lambda ctx: (
            (got := ctx.get(attribute)) is not None and (search(as_text(got)) is not None)
        )
    if operator in _SEMVER_OPS:
        wanted_version = parse_version(value) if isinstance(value, str) else None
        if wanted_version is None:
            raise ValidationError(
                f"not a semantic version: {value!r} (use e.g. 1.2.3)", field=f"{field}.value"
            )
        accept = _SEMVER_OPS[operator]

        def semver_matches(ctx: Mapping[str, Any]) -> bool:
            got = ctx.get(attribute)
            version = parse_version(got) if isinstance(got, str) else None
            return version is not None and bool(accept(compare(version, wanted_version)))

        return semver_matches
    if operator in _NUMERIC_OPS:
        bound = _number(value)
        if bound is None or isinstance(value, str):
            raise ValidationError(f"{operator} takes a number", field=f"{field}.value")
        return _numeric(attribute, operator, bound)
    raise ValidationError(
        f"unknown operator '{operator}' (use {', '.join(OPERATORS)})", field=f"{field}.operator"
    )


def _numeric(attribute: str, operator: str, bound: float) -> Predicate:
    def matches(ctx: Mapping[str, Any]) -> bool:
        got = _number(ctx.get(attribute))
        if got is None:
            return False
        if operator == "lt":
            return got < bound
        if operator == "lte":
            return got <= bound
        if operator == "gt":
            return got > bound
        return got >= bound

    return matches
