"""The pure flag evaluator, and the frozen bucketing hash behind percentage splits.

Order of evaluation: a disabled (killed) flag serves its off variant (reason DISABLED);
otherwise the first rule whose condition matches serves its variant (TARGETING_MATCH) or
buckets the context into its split (SPLIT); then the flag's rollout split (SPLIT); then
the default variant (STATIC for a flag with no rules and no rollout, else DEFAULT).

Bucketing is frozen — changing it would move users between variants — and is::

    bucket = int.from_bytes(sha256(f"{flag_key}/{salt}/{value}".encode()).digest()[:8],
                            "big") % 10000

where `value` is the sticky attribute's text form (strings unchanged, anything else as
compact JSON). Buckets 0-9999 are basis points: a split ``{"on": 10, "off": 90}`` serves
"on" to buckets 0-999 and "off" to 1000-9999, so raising "on" to 20 % keeps everyone who
already had it. A context without the sticky attribute cannot be bucketed: a rule's split
then does not match, and the rollout falls through to the default variant — unless one
variant holds 100 %, which needs no bucketing. Test vectors: tests/releases/flag_vectors.json.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prodloop.releases.flags.model import Flag, Split
from prodloop.releases.flags.operators import as_text, compile_condition

STATIC = "STATIC"
TARGETING_MATCH = "TARGETING_MATCH"
SPLIT = "SPLIT"
DEFAULT = "DEFAULT"
DISABLED = "DISABLED"
ERROR = "ERROR"
BUCKETS = 10_000


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What a flag resolved to, with the OpenFeature reason and, on error, its code."""

    value: Any
    variant: str | None
    reason: str
    error_code: str | None = None
    error_message: str | None = None


def bucket(flag_key: str, salt: str, value: str) -> int:
    """The frozen bucket (0-9999) of a sticky attribute value for a flag and salt."""
    digest = hashlib.sha256(f"{flag_key}/{salt}/{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


class _CompiledSplit:
    """A split with cumulative bucket bounds and one shared Evaluation per variant."""

    __slots__ = ("attribute", "bounds", "only", "prefix")

    def __init__(self, flag: Flag, split: Split) -> None:
        self.attribute = split.attribute or flag.sticky_attribute
        self.prefix = f"{flag.key}/{split.salt}/".encode()
        bounds: list[tuple[int, Evaluation]] = []
        upper = 0
        for name, percent in split.weights:
            if percent <= 0:
                continue
            upper += round(percent * 100)
            bounds.append((upper, Evaluation(flag.value_of(name), name, SPLIT)))
        self.bounds = tuple(bounds)
        self.only = bounds[0][1] if len(bounds) == 1 else None

    def pick(self, context: Mapping[str, Any]) -> Evaluation | None:
        if self.only is not None:
            return self.only
        value = context.get(self.attribute)
        if value is None:
            return None
        text = value if value.__class__ is str else as_text(value)
        digest = hashlib.sha256(self.prefix + text.encode()).digest()
        slot = int.from_bytes(digest[:8], "big") % BUCKETS
        for upper, evaluation in self.bounds:
            if slot < upper:
                return evaluation
        return self.bounds[-1][1]


_Outcome = Evaluation | _CompiledSplit


class CompiledFlag:
    """A flag with its rules compiled to predicates and its outcomes precomputed."""

    __slots__ = ("_default", "_fixed", "_off", "_rollout", "_rules", "flag", "key", "kind")

    def __init__(self, flag: Flag) -> None:
        self.flag = flag
        self.key = flag.key
        self.kind = flag.kind
        self._off = Evaluation(flag.value_of(flag.off_variant), flag.off_variant, DISABLED)
        has_targeting = bool(flag.rules) or flag.rollout is not None
        self._default = Evaluation(
            flag.value_of(flag.default_variant),
            flag.default_variant,
            DEFAULT if has_targeting else STATIC,
        )
        rules: list[tuple[Callable[[Mapping[str, Any]], bool], _Outcome]] = []
        for i, rule in enumerate(flag.rules):
            matches = compile_condition(
                rule.attribute, rule.operator, rule.value, field=f"rules[{i}]"
            )
            outcome: _Outcome
            if rule.split is not None:
                outcome = _CompiledSplit(flag, rule.split)
            else:
                variant = rule.variant or flag.default_variant
                outcome = Evaluation(flag.value_of(variant), variant, TARGETING_MATCH)
            rules.append((matches, outcome))
        self._rules = tuple(rules)
        self._rollout = _CompiledSplit(flag, flag.rollout) if flag.rollout is not None else None
        if not flag.is_enabled:
            self._fixed: Evaluation | None = self._off
        elif not has_targeting:
            self._fixed = self._default
        else:
            self._fixed = None

    def evaluate(self, context: Mapping[str, Any]) -> Evaluation:
        """The evaluation of this flag for `context`."""
        if self._fixed is not None:
            return self._fixed
        for matches, outcome in self._rules:
            if matches(context):
                if isinstance(outcome, Evaluation):
                    return outcome
                picked = outcome.pick(context)
                if picked is not None:
                    return picked
        if self._rollout is not None:
            picked = self._rollout.pick(context)
            if picked is not None:
                return picked
        return self._default


def compile_flag(flag: Flag) -> CompiledFlag:
    """Compile a validated flag for fast, repeated evaluation."""
    return CompiledFlag(flag)


def evaluate(flag: Flag | CompiledFlag, context: Mapping[str, Any] | None) -> Evaluation:
    """Evaluate `flag` for `context`; a context that is not a mapping is an ERROR."""
    compiled = flag if isinstance(flag, CompiledFlag) else CompiledFlag(flag)
    if context is None:
        context = {}
    if not isinstance(context, Mapping):
        return Evaluation(
            compiled._default.value,
            None,
            ERROR,
            "INVALID_CONTEXT",
            "the evaluation context must be an object",
        )
    return compiled.evaluate(context)
