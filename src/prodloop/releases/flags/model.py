"""Flags, their variants, targeting rules and percentage splits, validated on the way in.

A flag is compiled when it is saved: every rule condition must compile (a valid regex, a
valid semantic version, a known operator), every variant a rule or split names must
exist, and a split's percentages must sum to 100. Anything else is refused with a
ValidationError whose field is the JSON path of the culprit (``rules[1].value``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from prodloop.errors import ValidationError
from prodloop.releases.flags.operators import compile_condition

KINDS = ("boolean", "multivariate")
DEFAULT_STICKY_ATTRIBUTE = "targetingKey"
BOOLEAN_VARIANTS: dict[str, Any] = {"on": True, "off": False}
RESERVED_KEYS = frozenset({"config"})  # GET /api/v1/flags/config is the whole config
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Variant:
    """A named value a flag can serve."""

    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class Split:
    """A sticky percentage split: (variant, percent) in order, percents summing to 100.

    `attribute` is the context attribute users are bucketed on (None: the flag's
    sticky attribute); `salt` lets a split re-bucket without renaming the flag.
    """

    weights: tuple[tuple[str, float], ...]
    attribute: str | None = None
    salt: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"weights": dict(self.weights)}
        if self.attribute is not None:
            data["attribute"] = self.attribute
        if self.salt:
            data["salt"] = self.salt
        return data


@dataclass(frozen=True, slots=True)
class Rule:
    """`attribute operator value` serving one variant, or a split when it matches."""

    attribute: str
    operator: str
    value: Any
    variant: str | None = None
    split: Split | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "attribute": self.attribute,
            "operator": self.operator,
            "value": self.value,
        }
        if self.split is not None:
            data["split"] = self.split.to_dict()
        else:
            data["variant"] = self.variant
        return data


@dataclass(frozen=True, slots=True)
class Flag:
    """A flag as stored: off → `off_variant`; on → the first matching rule, else the
    rollout split, else `default_variant`."""

    key: str
    kind: str
    variants: tuple[Variant, ...]
    default_variant: str
    off_variant: str
    is_enabled: bool = False
    rules: tuple[Rule, ...] = ()
    rollout: Split | None = None
    sticky_attribute: str = DEFAULT_STICKY_ATTRIBUTE
    description: str = ""
    revision: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    updated_by: str = ""
    variant_names: frozenset[str] = field(
        default=frozenset(), init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "variant_names", frozenset(v.name for v in self.variants))

    def value_of(self, variant: str) -> Any:
        """The value a variant serves."""
        for candidate in self.variants:
            if candidate.name == variant:
                return candidate.value
        raise KeyError(variant)

    def to_dict(self) -> dict[str, Any]:
        """The flag's JSON form: what the API returns and the audit log records."""
        return {
            "key": self.key,
            "kind": self.kind,
            "description": self.description,
            "variants": {v.name: v.value for v in self.variants},
            "default_variant": self.default_variant,
            "off_variant": self.off_variant,
            "enabled": self.is_enabled,
            "rules": [rule.to_dict() for rule in self.rules],
            "rollout": self.rollout.to_dict() if self.rollout else None,
            "sticky_attribute": self.sticky_attribute,
            "revision": self.revision,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }

    def with_changes(self, **changes: Any) -> Flag:
        """A copy with fields replaced, validated again."""
        return validate_flag(replace(self, **changes))


def _require(data: dict[str, Any], name: str, kind: type | tuple[type, ...], path: str) -> Any:
    if name not in data:
        raise ValidationError("is required", field=f"{path}{name}")
    value = data[name]
    if not isinstance(value, kind):
        raise ValidationError("has the wrong type", field=f"{path}{name}")
    return value


def parse_split(data: Any, *, field: str) -> Split:
    """A Split from its JSON form ``{"weights": {variant: percent}, "attribute", "salt"}``."""
    if not isinstance(data, dict):
        raise ValidationError("must be an object with 'weights'", field=field)
    unknown = set(data) - {"weights", "attribute", "salt"}
    if unknown:
        raise ValidationError(f"unknown key '{sorted(unknown)[0]}'", field=field)
    weights = data.get("weights")
    if not isinstance(weights, dict) or not weights:
        raise ValidationError("must map variant names to percentages", field=f"{field}.weights")
    pairs: list[tuple[str, float]] = []
    for name, percent in weights.items():
        if isinstance(percent, bool) or not isinstance(percent, int | float):
            raise ValidationError("must be a number", field=f"{field}.weights.{name}")
        if not 0 <= percent <= 100 or not math.isfinite(percent):
            raise ValidationError("must be between 0 and 100", field=f"{field}.weights.{name}")
        if abs(percent * 100 - round(percent * 100)) > 1e-6:
            raise ValidationError("at most two decimals", field=f"{field}.weights.{name}")
        pairs.append((str(name), float(percent)))
    total = sum(p for _, p in pairs)
    if abs(total - 100) > 1e-6:
        raise ValidationError(f"percentages sum to {total:g}, not 100", field=f"{field}.weights")
    attribute = data.get("attribute")
    if attribute is not None and (not isinstance(attribute, str) or not attribute):
        raise ValidationError("must be an attribute name", field=f"{field}.attribute")
    salt = data.get("salt", "")
    if not isinstance(salt, str):
        raise ValidationError("must be a string", field=f"{field}.salt")
    return Split(tuple(pairs), attribute, salt)


def parse_rule(data: Any, *, field: str) -> Rule:
    """A Rule from its JSON form; the condition is compiled here, so errors surface."""
    if not isinstance(data, dict):
        raise ValidationError("must be an object", field=field)
    unknown = set(data) - {"attribute", "operator", "value", "variant", "split"}
    if unknown:
        raise ValidationError(f"unknown key '{sorted(unknown)[0]}'", field=field)
    attribute = _require(data, "attribute", str, f"{field}.")
    operator = _require(data, "operator", str, f"{field}.")
    if "value" not in data:
        raise ValidationError("is required", field=f"{field}.value")
    compile_condition(attribute, operator, data["value"], field=field)
    has_variant, has_split = data.get("variant") is not None, data.get("split") is not None
    if has_variant == has_split:
        raise ValidationError("give exactly one of 'variant' or 'split'", field=f"{field}.variant")
    if has_variant and not isinstance(data["variant"], str):
        raise ValidationError("must be a variant name", field=f"{field}.variant")
    split = parse_split(data["split"], field=f"{field}.split") if has_split else None
    return Rule(attribute, operator, data["value"], data.get("variant"), split)


def flag_from_dict(data: Any, *, key: str | None = None) -> Flag:
    """A validated Flag from its JSON form (what the API accepts and the store keeps).

    Boolean flags default to the variants ``on: true`` / ``off: false``; a flag's
    default variant defaults to its first variant ("on"), its off variant to its last.
    """
    if not isinstance(data, dict):
        raise ValidationError("must be a JSON object", field="flag")
    known = {
        "key", "kind", "description", "variants", "default_variant", "off_variant", "enabled",
        "rules", "rollout", "sticky_attribute", "revision", "created_at", "updated_at",
        "updated_by",
    }  # fmt: skip
    unknown = set(data) - known
    if unknown:
        raise ValidationError(
            f"unknown field (use {', '.join(sorted(known))})", field=sorted(unknown)[0]
        )
    flag_key = key if key is not None else data.get("key")
    kind = data.get("kind", "boolean")
    if kind not in KINDS:
        raise ValidationError(f"must be one of {', '.join(KINDS)}", field="kind")
    variants_data = data.get("variants")
    if variants_data is None:
        if kind != "boolean":
            raise ValidationError("a multivariate flag needs variants", field="variants")
        variants_data = BOOLEAN_VARIANTS
    if not isinstance(variants_data, dict) or not variants_data:
        raise ValidationError("must map variant names to values", field="variants")
    variants = tuple(Variant(str(name), value) for name, value in variants_data.items())
    names = [v.name for v in variants]
    rules_data = data.get("rules") or []
    if not isinstance(rules_data, list):
        raise ValidationError("must be a list of rules", field="rules")
    rollout = data.get("rollout")
    enabled = data.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ValidationError("must be true or false", field="enabled")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise ValidationError("must be a string", field="description")
    flag = Flag(
        key=flag_key if isinstance(flag_key, str) else "",
        kind=kind,
        variants=variants,
        default_variant=data.get("default_variant") or names[0],
        off_variant=data.get("off_variant") or names[-1],
        is_enabled=enabled,
        rules=tuple(parse_rule(r, field=f"rules[{i}]") for i, r in enumerate(rules_data)),
        rollout=parse_split(rollout, field="rollout") if rollout is not None else None,
        sticky_attribute=data.get("sticky_attribute") or DEFAULT_STICKY_ATTRIBUTE,
        description=description,
        revision=int(data.get("revision") or 0),
        created_at=float(data.get("created_at") or 0.0),
        updated_at=float(data.get("updated_at") or 0.0),
        updated_by=str(data.get("updated_by") or ""),
    )
    return validate_flag(flag)


def validate_flag(flag: Flag) -> Flag:
    """`flag` itself when it compiles, else a ValidationError naming the field."""
    if flag.key in RESERVED_KEYS:
        raise ValidationError(f"'{flag.key}' is reserved; choose another key", field="key")
    if not _KEY.match(flag.key):
        raise ValidationError(
            "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
            field="key",
        )
    if flag.kind not in KINDS:
        raise ValidationError(f"must be one of {', '.join(KINDS)}", field="kind")
    if len(flag.variant_names) != len(flag.variants):
        raise ValidationError("variant names must be unique", field="variants")
    for variant in flag.variants:
        if not variant.name or len(variant.name) > 128:
            raise ValidationError("a variant needs a name of 1-128 characters", field="variants")
        if flag.kind == "boolean" and not isinstance(variant.value, bool):
            raise ValidationError(
                "a boolean flag's variants must be true or false", field=f"variants.{variant.name}"
            )
    for name, where in (
        (flag.default_variant, "default_variant"),
        (flag.off_variant, "off_variant"),
    ):
        _known_variant(flag, name, where)
    for i, rule in enumerate(flag.rules):
        compile_condition(rule.attribute, rule.operator, rule.value, field=f"rules[{i}]")
        if rule.split is not None:
            _check_split(flag, rule.split, f"rules[{i}].split")
        elif rule.variant is not None:
            _known_variant(flag, rule.variant, f"rules[{i}].variant")
        else:
            raise ValidationError("give a variant or a split", field=f"rules[{i}].variant")
    if flag.rollout is not None:
        _check_split(flag, flag.rollout, "rollout")
    if not flag.sticky_attribute:
        raise ValidationError("must be an attribute name", field="sticky_attribute")
    return flag


def _known_variant(flag: Flag, name: object, where: str) -> None:
    if not isinstance(name, str) or name not in flag.variant_names:
        raise ValidationError(
            f"unknown variant {name!r} (the flag has {', '.join(sorted(flag.variant_names))})",
            field=where,
        )


def _check_split(flag: Flag, split: Split, where: str) -> None:
    parse_split(split.to_dict(), field=where)
    for name, _ in split.weights:
        _known_variant(flag, name, f"{where}.weights.{name}")


def rollout_split(flag: Flag, percent: float, variant: str | None = None) -> Split:
    """The split serving `variant` to `percent` % and the rest to the other variant.

    For a boolean flag the variant defaults to the one serving true and the rest gets the
    other; for a multivariate flag the variant defaults to the default variant and the
    rest gets the off variant. The served variant comes first, so raising the percent
    keeps everyone who already had it (see evaluate's bucketing).
    """
    if isinstance(percent, bool) or not 0 <= percent <= 100:
        raise ValidationError("must be between 0 and 100", field="percent")
    if variant is None:
        if flag.kind == "boolean":
            variant = next((v.name for v in flag.variants if v.value is True), flag.default_variant)
        else:
            variant = flag.default_variant
    _known_variant(flag, variant, "variant")
    if flag.kind == "boolean":
        rest = next((v.name for v in flag.variants if v.name != variant), variant)
    else:
        rest = flag.off_variant if flag.off_variant != variant else flag.default_variant
    if rest == variant or percent == 100:
        return Split(((variant, 100.0),))
    return Split(((variant, float(percent)), (rest, 100.0 - float(percent))))
