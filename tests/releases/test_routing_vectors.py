"""The sticky routing hash is frozen: these vectors must never change."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from prodloop.gateway.routing import choose_version, sticky_point

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).with_name("routing_vectors.json")).read_text(encoding="utf-8")
)


@pytest.mark.parametrize(
    "vector", VECTORS["points"], ids=lambda v: f"{v['salt']}:{v['sticky_key']}"
)
def test_sticky_points(vector: dict[str, Any]) -> None:
    assert sticky_point(vector["sticky_key"], vector["salt"]) == vector["point"]


@pytest.mark.parametrize("vector", VECTORS["choices"])
def test_choices(vector: dict[str, Any]) -> None:
    # `rnd` is only used without a sticky key, so any generator gives the same answer.
    for seed in (0, 1):
        chosen = choose_version(vector["weights"], vector["sticky_key"], random.Random(seed))
        assert chosen == vector["version"]


def test_the_vectors_cover_a_canary_ramp() -> None:
    ramp = [v for v in VECTORS["choices"] if set(v["weights"]) == {"v1", "v2"}]
    assert {v["weights"]["v2"] for v in ramp} == {5.0, 25.0, 50.0}
    assert {v["version"] for v in ramp} == {"v1", "v2"}
