"""The flag model's compile-on-save checks and the pure evaluator."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodloop.errors import ValidationError
from prodloop.releases.flags import bucket, compile_flag, evaluate, flag_from_dict
from prodloop.releases.flags.model import Flag, rollout_split
from prodloop.releases.flags.semver import compare, parse_version

VECTORS = json.loads((Path(__file__).with_name("flag_vectors.json")).read_text())


def make(**fields: Any) -> Flag:
    return flag_from_dict({"key": "f", "enabled": True, **fields})


def rule(attribute: str, operator: str, value: Any, variant: str = "on") -> dict[str, Any]:
    return {"attribute": attribute, "operator": operator, "value": value, "variant": variant}


def served(flag: Flag, **context: Any) -> str | None:
    return evaluate(flag, context).variant


# -- the frozen hash --------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["hashed"])
def test_bucket_matches_the_published_vectors(vector: dict[str, Any]) -> None:
    assert bucket(vector["flag_key"], vector["salt"], vector["value"]) == vector["bucket"]


def test_split_serves_by_the_published_buckets() -> None:
    flag = flag_from_dict(
        {"key": "new-prompt", "enabled": True, "rollout": {"weights": {"on": 30, "off": 70}}}
    )
    compiled = compile_flag(flag)
    checked = 0
    for vector in VECTORS["vectors"]:
        if vector["flag_key"] != "new-prompt" or vector["salt"]:
            continue
        expected = "on" if vector["bucket"] < 3000 else "off"
        result = compiled.evaluate({"targetingKey": vector["value"]})
        assert (result.variant, result.reason) == (expected, "SPLIT")
        checked += 1
    assert checked >= 5


# -- reasons, kill switch, defaults ------------------------------------------------


def test_a_flag_without_rules_is_static_and_a_killed_flag_is_disabled() -> None:
    flag = make()
    assert evaluate(flag, {}) == evaluate(flag, {"targetingKey": "x"})
    result = evaluate(flag, {})
    assert (result.value, result.variant, result.reason) == (True, "on", "STATIC")
    killed = flag.with_changes(is_enabled=False, rules=flag.rules)
    result = evaluate(killed, {"targetingKey": "x"})
    assert (result.value, result.variant, result.reason) == (False, "off", "DISABLED")


def test_kill_wins_over_rules_and_rollout() -> None:
    flag = make(
        rules=[rule("country", "equals", "DE")], rollout={"weights": {"on": 100}}, enabled=False
    )
    assert evaluate(flag, {"country": "DE", "targetingKey": "u"}).reason == "DISABLED"


def test_no_rule_matching_serves_the_default_variant() -> None:
    flag = make(rules=[rule("country", "equals", "DE", "off")])
    result = evaluate(flag, {"country": "FR"})
    assert (result.variant, result.reason) == ("on", "DEFAULT")


def test_rules_are_evaluated_in_order() -> None:
    flag = flag_from_dict(
        {
            "key": "colour",
            "kind": "multivariate",
            "enabled": True,
            "variants": {"red": "#f00", "green": "#0f0", "blue": "#00f"},
            "default_variant": "blue",
            "rules": [
                rule("plan", "equals", "pro", "red"),
                rule("country", "equals", "DE", "green"),
            ],
        }
    )
    assert served(flag, plan="pro", country="DE") == "red"
    assert served(flag, plan="free", country="DE") == "green"
    assert served(flag, plan="free") == "blue"
    assert evaluate(flag, {"plan": "pro"}).value == "#f00"
    assert evaluate(flag, {"plan": "pro"}).reason == "TARGETING_MATCH"


# -- every operator ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "context_value", "matches"),
    [
        ("equals", "DE", "DE", True),
        ("equals", "DE", "FR", False),
        ("equals", 5, "5", True),
        ("equals", True, True, True),
        ("not_equals", "DE", "FR", True),
        ("not_equals", "DE", "DE", False),
        ("in", ["DE", "FR"], "FR", True),
        ("in", ["DE", "FR"], "IT", False),
        ("in", [1, 2], 2, True),
        ("not_in", ["DE", "FR"], "IT", True),
        ("not_in", ["DE", "FR"], "DE", False),
        ("regex", r"@example\.com$", "ann@example.com", True),
        ("regex", r"@example\.com$", "ann@example.org", False),
        ("regex", "^beta-", "beta-7", True),
        ("semver_eq", "1.2.3", "v1.2.3", True),
        ("semver_eq", "1.2", "1.2.0", True),
        ("semver_lt", "2.0.0", "1.9.9", True),
        ("semver_lt", "2.0.0", "2.0.0", False),
        ("semver_lt", "2.0.0", "2.0.0-rc.1", True),
        ("semver_lte", "2.0.0", "2.0.0", True),
        ("semver_gt", "1.10.0", "1.9.0", False),
        ("semver_gt", "1.9.0", "1.10.0", True),
        ("semver_gte", "2.0.0", "2.0.0+build.5", True),
        ("semver_gte", "2.0.0", "not-a-version", False),
        ("lt", 10, 9.5, True),
        ("lt", 10, 10, False),
        ("lte", 10, 10, True),
        ("gt", 10, "11", True),
        ("gt", 10, "eleven", False),
        ("gte", 10, 10, True),
        ("gte", 10, True, False),
    ],
)
def test_operator(operator: str, value: Any, context_value: Any, matches: bool) -> None:
    flag = make(rules=[rule("attr", operator, value, "off")])
    assert served(flag, attr=context_value) == ("off" if matches else "on")


@pytest.mark.parametrize(
    "operator", ["equals", "not_equals", "in", "not_in", "regex", "semver_eq", "lt"]
)
def test_a_missing_attribute_never_matches(operator: str) -> None:
    value: Any = {"in": ["x"], "not_in": ["x"], "semver_eq": "1.0.0", "lt": 3}.get(operator, "x")
    flag = make(rules=[rule("attr", operator, value, "off")])
    assert served(flag, other="x") == "on"


def test_semver_precedence() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2"]
    ordered += ["1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"]
    versions = [parse_version(text) for text in ordered]
    assert all(v is not None for v in versions)
    for left, right in itertools.pairwise(versions):
        assert left is not None and right is not None
        assert compare(left, right) == -1
    assert parse_version("1.2.3.4") is None
    assert parse_version("01.2.3") is None


# -- compile on save ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"rules": [rule("email", "regex", "[a-")]}, "rules[0].value", "regex"),
        ({"rules": [rule("v", "semver_gt", "1.x")]}, "rules[0].value", "semantic version"),
        ({"rules": [rule("v", "like", "x")]}, "rules[0].operator", "unknown operator"),
        ({"rules": [rule("v", "equals", "x", "maybe")]}, "rules[0].variant", "unknown variant"),
        ({"rules": [rule("v", "in", "x")]}, "rules[0].value", "list"),
        ({"rules": [rule("v", "lt", "ten")]}, "rules[0].value", "number"),
        ({"rollout": {"weights": {"on": 30, "off": 60}}}, "rollout.weights", "sum to 90"),
        ({"rollout": {"weights": {"on": 50, "nope": 50}}}, "rollout.weights.nope", "unknown"),
        (
            {
                "rules": [
                    rule("a", "equals", "b"),
                    {
                        "attribute": "a",
                        "operator": "equals",
                        "value": "c",
                        "split": {"weights": {"on": 10}},
                    },
                ]
            },
            "rules[1].split.weights",
            "sum to 10",
        ),
        ({"default_variant": "maybe"}, "default_variant", "unknown variant"),
        ({"variants": {"on": True, "off": "no"}}, "variants.off", "true or false"),
        ({"key": "bad key!"}, "key", "letters"),
        ({"key": "config"}, "key", "reserved"),
        ({"kind": "tristate"}, "kind", "boolean"),
    ],
)
def test_a_rule_that_cannot_compile_is_refused_naming_the_field(
    fields: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        flag_from_dict({"key": "f", **fields})
    assert raised.value.field == field
    assert message in raised.value.message


def test_a_flag_round_trips_through_its_json_form() -> None:
    flag = make(
        kind="multivariate",
        variants={"small": {"model": "mini"}, "large": {"model": "4o"}},
        rules=[
            rule("plan", "in", ["pro", "team"], "large"),
            {
                "attribute": "country",
                "operator": "equals",
                "value": "DE",
                "split": {"weights": {"small": 25, "large": 75}, "attribute": "org", "salt": "x"},
            },
        ],
        rollout={"weights": {"large": 12.5, "small": 87.5}},
        sticky_attribute="userId",
    )
    again = flag_from_dict(json.loads(json.dumps(flag.to_dict())))
    assert again == flag
    assert again.to_dict() == flag.to_dict()


# -- splits, stickiness -------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(percent=st.integers(min_value=0, max_value=100), salt=st.text(max_size=8))
def test_splits_serve_about_their_percentages(percent: int, salt: str) -> None:
    flag = make(rollout={"weights": {"on": percent, "off": 100 - percent}, "salt": salt})
    compiled = compile_flag(flag)
    users = 4000
    on = sum(compiled.evaluate({"targetingKey": f"user-{i}"}).value for i in range(users))
    # 4000 Bernoulli draws: 4.5 standard deviations is at most 3.6 points.
    assert abs(on / users * 100 - percent) <= 3.6


@settings(max_examples=30, deadline=None)
@given(user=st.text(min_size=1, max_size=30), low=st.integers(0, 100), high=st.integers(0, 100))
def test_raising_a_rollout_keeps_everyone_who_had_it(user: str, low: int, high: int) -> None:
    low, high = min(low, high), max(low, high)
    base = make()
    before = evaluate(base.with_changes(rollout=rollout_split(base, low)), {"targetingKey": user})
    after = evaluate(base.with_changes(rollout=rollout_split(base, high)), {"targetingKey": user})
    assert not before.value or after.value
    # The same user always lands on the same side.
    assert before == evaluate(
        base.with_changes(rollout=rollout_split(base, low)), {"targetingKey": user}
    )


def test_stickiness_follows_the_chosen_attribute() -> None:
    flag = make(rollout={"weights": {"on": 50, "off": 50}}, sticky_attribute="orgId")
    compiled = compile_flag(flag)
    for org in ("acme", "globex", "initech", "umbrella"):
        variants = {
            compiled.evaluate({"orgId": org, "targetingKey": f"u{i}"}).variant for i in range(50)
        }
        assert len(variants) == 1  # every user of one organisation gets the same variant
    spread = {compiled.evaluate({"orgId": f"org-{i}"}).variant for i in range(50)}
    assert spread == {"on", "off"}


def test_a_context_without_the_sticky_attribute_falls_back_to_the_default() -> None:
    flag = make(rollout={"weights": {"on": 50, "off": 50}}, default_variant="off")
    result = evaluate(flag, {"country": "DE"})
    assert (result.variant, result.reason) == ("off", "DEFAULT")
    everyone = make(rollout={"weights": {"on": 100}}, default_variant="off")
    assert evaluate(everyone, {}).variant == "on"  # 100 % needs no bucketing


def test_a_rule_can_serve_a_split() -> None:
    flag = make(
        default_variant="off",
        rules=[
            {
                "attribute": "country",
                "operator": "equals",
                "value": "DE",
                "split": {"weights": {"on": 50, "off": 50}},
            }
        ],
    )
    german = {evaluate(flag, {"country": "DE", "targetingKey": f"u{i}"}).variant for i in range(40)}
    assert german == {"on", "off"}
    assert evaluate(flag, {"country": "DE", "targetingKey": "u1"}).reason == "SPLIT"
    assert evaluate(flag, {"country": "FR", "targetingKey": "u1"}).variant == "off"


def test_rollout_split_for_boolean_and_multivariate_flags() -> None:
    boolean = make()
    assert rollout_split(boolean, 100).weights == (("on", 100.0),)
    assert rollout_split(boolean, 25).weights == (("on", 25.0), ("off", 75.0))
    multi = make(
        kind="multivariate",
        variants={"control": "a", "treatment": "b"},
        default_variant="control",
        off_variant="control",
    )
    assert rollout_split(multi, 10, "treatment").weights == (
        ("treatment", 10.0),
        ("control", 90.0),
    )
    with pytest.raises(ValidationError) as raised:
        rollout_split(multi, 10, "nope")
    assert raised.value.field == "variant"


def test_a_context_that_is_not_an_object_is_an_error() -> None:
    result = evaluate(make(), ["not", "a", "mapping"])  # type: ignore[arg-type]
    assert (result.reason, result.error_code) == ("ERROR", "INVALID_CONTEXT")
