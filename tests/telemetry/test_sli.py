from __future__ import annotations

import itertools
import random
from dataclasses import replace
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from prodloop.errors import ValidationError
from prodloop.store import connect
from prodloop.telemetry.histogram import ALPHA
from prodloop.telemetry.rollups import write_events
from prodloop.telemetry.sli import PERCENTILES, Slis, query_slis, split_window
from tests.telemetry.fakes import HOUR0, exact_quantile, exact_slis, random_events, select

H = 3600.0
# Raw edges, whole minutes and whole hours all take part in this window.
MIXED = (HOUR0 + 1234.5, HOUR0 + 3 * H + 1817.25)
WINDOWS = {
    "mixed": MIXED,
    "inside one minute": (HOUR0 + 3605.5, HOUR0 + 3640.0),
    "minutes inside one hour": (HOUR0 + 3700.3, HOUR0 + 5000.7),
    "whole hours": (HOUR0, HOUR0 + 3 * H),
    "whole minutes": (HOUR0 + 120, HOUR0 + 2 * H + 600),
    "everything": (HOUR0 - H, HOUR0 + 6 * H),
}


def assert_matches(slis: Slis, expected: dict[str, Any]) -> None:
    for name in (
        "requests", "errors", "successes", "input_tokens", "output_tokens", "cached_tokens",
        "reasoning_tokens", "streams", "cost_unknown", "guardrail_requests", "guardrail_counts",
        "errors_by_class", "error_rate", "success_rate", "guardrail_trigger_rate",
    ):  # fmt: skip
        assert getattr(slis, name) == expected[name], name
    assert slis.cost_total_usd == pytest.approx(expected["cost_total_usd"])
    if expected["cost_per_request_usd"] is None:
        assert slis.cost_per_request_usd is None
    else:
        assert slis.cost_per_request_usd == pytest.approx(expected["cost_per_request_usd"])
    for key, q in PERCENTILES.items():
        if not expected["latencies"]:
            assert slis.latency_ms[key] is None
            continue
        exact = exact_quantile(expected["latencies"], q)
        estimate = slis.latency_ms[key]
        assert estimate is not None and abs(estimate - exact) <= ALPHA * exact * 1.000001, key
    if not expected["ttfts"]:
        assert slis.ttft_ms is None
    else:
        assert slis.ttft_ms is not None
        for key, q in PERCENTILES.items():
            exact = exact_quantile(expected["ttfts"], q)
            estimate = slis.ttft_ms[key]
            assert estimate is not None and abs(estimate - exact) <= ALPHA * exact * 1.000001, key


@pytest.fixture
def loaded(store_url: str) -> tuple[Engine, list[Any]]:
    engine = connect(store_url)
    events = random_events(random.Random(11), 3000, HOUR0 - 600, 4 * H + 1200)
    template = events[0]
    start, end = MIXED
    # Events exactly on the edges: `start` and bucket starts are in, `end` is out.
    events += [
        replace(template, ts=ts, version="edge")
        for ts in (start, end, HOUR0 + H, HOUR0 + H + 60, start + 45.5, end - 0.25)
    ]
    for first in range(0, len(events), 1000):
        write_events(engine, events[first : first + 1000])
    return engine, events


def test_the_mixed_window_reads_raw_minutes_and_hours() -> None:
    pieces = split_window(*MIXED)
    assert [source for source, _, _ in pieces] == ["raw", "minute", "hour", "minute", "raw"]
    assert pieces[0][1] == MIXED[0] and pieces[-1][2] == MIXED[1]
    assert all(a[2] == b[1] for a, b in itertools.pairwise(pieces))
    assert split_window(HOUR0, HOUR0 + 2 * H) == [("hour", HOUR0, HOUR0 + 2 * H)]
    assert split_window(HOUR0 + 1, HOUR0 + 30) == [("raw", HOUR0 + 1, HOUR0 + 30)]


def test_slis_equal_an_exact_scan(loaded: tuple[Engine, list[Any]]) -> None:
    engine, events = loaded
    for name, window in WINDOWS.items():
        (slis,) = query_slis(engine, start=window[0], end=window[1])
        assert slis.group == {}, name
        assert slis.requests > 0, name
        assert_matches(slis, exact_slis(select(events, *window)))


def test_group_by_version_gives_one_row_per_version(loaded: tuple[Engine, list[Any]]) -> None:
    engine, events = loaded
    rows = query_slis(engine, start=MIXED[0], end=MIXED[1], group_by=["version"])
    assert [row.group for row in rows] == [{"version": v} for v in ("edge", "v1", "v2", "v3")]
    for row in rows:
        assert_matches(row, exact_slis(select(events, *MIXED, **row.group)))
    edge = rows[0]
    assert edge.requests == 5  # `end` itself is outside the window


def test_filters_and_two_groupings(loaded: tuple[Engine, list[Any]]) -> None:
    engine, events = loaded
    rows = query_slis(
        engine,
        start=MIXED[0],
        end=MIXED[1],
        service="chat",
        model="",
        group_by=("route", "version"),
    )
    chosen = select(events, *MIXED, service="chat", model="")
    assert [(row.group["route"], row.group["version"]) for row in rows] == sorted(
        {(e.route, e.version) for e in chosen}
    )
    for row in rows:
        assert set(row.group) == {"route", "version"}
        expected = exact_slis(select(events, *MIXED, service="chat", model="", **row.group))
        assert_matches(row, expected)
    (gpt,) = query_slis(engine, start=MIXED[0], end=MIXED[1], model="gpt-4o", version="v2")
    assert_matches(gpt, exact_slis(select(events, *MIXED, model="gpt-4o", version="v2")))


def test_an_empty_window_has_one_row_without_rates(store_url: str) -> None:
    engine = connect(store_url)
    (slis,) = query_slis(engine, start=HOUR0, end=HOUR0 + 30 * 86400)
    assert (slis.requests, slis.errors, slis.cost_unknown) == (0, 0, 0)
    assert slis.error_rate is None and slis.success_rate is None
    assert slis.guardrail_trigger_rate is None and slis.cost_per_request_usd is None
    assert slis.latency_ms == {"p50": None, "p90": None, "p95": None, "p99": None}
    assert slis.ttft_ms is None
    data = slis.to_dict()
    assert orjson.loads(orjson.dumps(data)) == data
    assert query_slis(engine, start=HOUR0, end=HOUR0 + 60, group_by=["service"]) == []


def test_to_dict_is_json_safe(loaded: tuple[Engine, list[Any]]) -> None:
    engine, _ = loaded
    (slis,) = query_slis(engine, start=MIXED[0], end=MIXED[1])
    data = orjson.loads(orjson.dumps(slis.to_dict()))
    assert data["requests"] == slis.requests
    assert data["latency_ms"]["p95"] == slis.latency_ms["p95"]
    assert slis.latency_percentile(95) == slis.latency_ms["p95"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": HOUR0, "end": HOUR0}, "end"),
        ({"start": HOUR0, "end": HOUR0 + 60, "group_by": ["user"]}, "group_by"),
        ({"start": HOUR0, "end": HOUR0 + 60, "group_by": ["model", "model"]}, "group_by"),
    ],
)
def test_bad_arguments_name_the_field(sqlite_url: str, kwargs: dict[str, Any], field: str) -> None:
    engine = connect(sqlite_url)
    with pytest.raises(ValidationError) as caught:
        query_slis(engine, **kwargs)
    assert caught.value.field == field
