"""Click heatmaps as PNG, and rage clicks at their boundaries."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from prodloop.analytics.heatmap import HEADER_PX, build_heatmap
from prodloop.analytics.params import TimeRange
from prodloop.analytics.rage import Click, find_rage_clicks, top_spots
from prodloop.config.feedback import AnalyticsSettings
from prodloop.store import connect
from tests.analytics.support import D, T, event, insert_events

SETTINGS = AnalyticsSettings()  # 4 clicks in 1 s within 0.02 of the viewport


def _clicks(user: str, x: float, y: float, times: list[float], session: str = "s") -> list[Click]:
    return [Click(T + t, x, y, user, session) for t in times]


def test_four_clicks_in_one_second_are_a_rage_click_three_are_not() -> None:
    clicks = [
        *_clicks("four", 0.5, 0.5, [0.0, 0.3, 0.6, 0.9]),
        *_clicks("three", 0.5, 0.5, [0.0, 0.5, 1.0]),
        *_clicks("slow", 0.5, 0.5, [0.0, 0.4, 0.8, 1.2]),  # the fourth is 1.2 s after the first
        *_clicks("edge", 0.2, 0.2, [0.0, 0.25, 0.5, 1.0]),  # exactly 1 s: still a burst
        *_clicks("spread", 0.1, 0.1, [0.0, 0.1, 0.2]),
        *_clicks("spread", 0.3, 0.1, [0.3]),  # far from the others
        # two sessions of one user at once are two visits, two clicks each
        *_clicks("split", 0.7, 0.7, [0.0, 0.2], session="a"),
        *_clicks("split", 0.7, 0.7, [0.1, 0.3], session="b"),
    ]
    found = find_rage_clicks(clicks, SETTINGS)
    assert sorted((r.distinct_id, r.clicks) for r in found) == [("edge", 4), ("four", 4)]
    four = next(r for r in found if r.distinct_id == "four")
    assert (four.x, four.y) == (0.5, 0.5)
    assert four.ended_at - four.started_at == pytest.approx(0.9)
    looser = SETTINGS.model_copy(update={"rage_click_count": 3})
    # three clicks make a burst now: slow's first three are within 0.8 s
    assert {r.distinct_id for r in find_rage_clicks(clicks, looser)} == {
        "four", "three", "slow", "edge", "spread",
    }  # fmt: skip


def test_rage_spots_pool_bursts_by_place() -> None:
    clicks = [
        *_clicks("u1", 0.801, 0.1, [0, 0.1, 0.2, 0.3]),
        *_clicks("u2", 0.805, 0.1, [5, 5.1, 5.2, 5.3, 5.4]),
        *_clicks("u3", 0.2, 0.9, [9, 9.1, 9.2, 9.3]),
    ]
    spots = top_spots(find_rage_clicks(clicks, SETTINGS), SETTINGS.rage_click_radius)
    assert [(s.bursts, s.users, s.clicks) for s in spots] == [(2, 2, 9), (1, 1, 4)]
    assert spots[0].x == 0.803 and spots[0].y == 0.1


def test_png_has_the_size_and_the_hot_spot_where_the_clicks_are(sqlite_url: str) -> None:
    engine = connect(sqlite_url)
    rows = [
        event("$click", f"u{i % 7}", T + i * 30, path="/chat", x=0.25, y=0.75) for i in range(40)
    ]
    rows += [event("$click", "u1", T + 5000 + i * 30, path="/chat", x=0.8, y=0.2) for i in range(5)]
    rows += [event("$click", "u1", T + 100, path="/settings", x=0.9, y=0.9)]  # another page
    rows += [event("$click", "u1", T + 2 * D, path="/chat", x=0.9, y=0.9)]  # after the range
    insert_events(engine, rows)
    found = build_heatmap(engine, SETTINGS, "/chat", TimeRange(T, T + D), width=640, height=400)
    assert found.clicks == 45 and found.rage_clicks == []
    image = Image.open(io.BytesIO(found.png))
    assert image.format == "PNG" and image.size == (640, 400)
    pixels = np.asarray(image.convert("RGB")).astype(int)
    hot_y, hot_x = HEADER_PX + round(0.75 * (400 - HEADER_PX)), round(0.25 * 640)
    # the reddest pixel within a grid cell (4 px) of where the clicks are
    box = pixels[hot_y - 4 : hot_y + 5, hot_x - 4 : hot_x + 5].reshape(-1, 3)
    hot = box[int(np.argmax(box[:, 0] - box[:, 1]))]
    warm = pixels[HEADER_PX + round(0.2 * (400 - HEADER_PX)), round(0.8 * 640)]
    cold = pixels[HEADER_PX + round(0.2 * (400 - HEADER_PX)), round(0.25 * 640)]
    assert hot[0] > 200 and hot[1] < 80 and hot[2] < 80  # red: the most clicks
    assert warm[2] > 100 or warm[1] > 100  # blue to green: a few clicks
    assert tuple(cold) == (246, 247, 249)  # the background: no clicks
    # the heat area is the whole image below the title band
    heat = pixels[HEADER_PX:, :, 0] - pixels[HEADER_PX:, :, 2]
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    assert abs(col - 0.25 * 640) <= 6 and abs(row - 0.75 * (400 - HEADER_PX)) <= 6


def test_an_empty_page_still_renders(sqlite_url: str) -> None:
    engine = connect(sqlite_url)
    found = build_heatmap(engine, SETTINGS, "/nothing", TimeRange(T, T + D))
    image = Image.open(io.BytesIO(found.png))
    assert found.clicks == 0 and image.size == (1280, 800)
