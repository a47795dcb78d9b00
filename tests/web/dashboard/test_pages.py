"""The overview and service pages, the cards fragment, chart data and a minute's requests."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from markupsafe import escape

from prodloop.web.dashboard.charts import RANGES
from tests.api.support import API_TOKEN
from tests.web.dashboard.conftest import Dashboard
from tests.web.dashboard.support import (
    CLICKED_MINUTE,
    HOSTILE,
    NOW,
    TRACE_WITH_FEEDBACK,
    login,
    seed_hostile,
)


def _logged_in(dashboard: Dashboard, name: str = "vera") -> TestClient:
    http = dashboard.new_client()
    assert login(http, name).status_code == 303
    return http


def _cards(page: str) -> dict[tuple[str, str], dict[str, str]]:
    found = {}
    for match in re.finditer(r'<article class="slo (\w+)"([^>]*)>', page):
        attrs = dict(re.findall(r'data-([\w-]+)="([^"]*)"', match.group(2)))
        attrs["colour"] = match.group(1)
        found[(html.unescape(attrs["service"]), attrs["slo"])] = attrs
    return found


def test_overview_cards_show_what_the_api_says(dashboard: Dashboard) -> None:
    http = _logged_in(dashboard)
    page = http.get("/")
    assert page.status_code == 200
    api = http.get("/api/v1/slos", headers={"authorization": f"Bearer {API_TOKEN}"}).json()
    cards = _cards(page.text)
    assert set(cards) == {(s["service"], s["slo"]) for s in api["slos"]}
    assert len(cards) >= 4
    for slo in api["slos"]:
        card = cards[(slo["service"], slo["slo"])]
        assert card["sli"] == ("" if slo["sli"] is None else str(slo["sli"]))
        remaining = slo["budget_remaining"]
        assert card["budget-remaining"] == ("" if remaining is None else str(remaining))
    # chat's canary fails 1 request in 20 of its own, 1 % of chat's: over the 1 % target.
    error_rate = next(
        s for s in api["slos"] if s["service"] == "chat" and "error" in s["indicator"]
    )
    assert error_rate["is_met"] is False
    assert cards[("chat", error_rate["slo"])]["colour"] == "red"
    search = [c for (service, _), c in cards.items() if service == "search"]
    assert search and all(c["colour"] in ("green", "grey") for c in search)


def test_cards_fragment_polls_and_filters_by_service(dashboard: Dashboard) -> None:
    http = _logged_in(dashboard)
    page = http.get("/services/search").text
    assert 'hx-get="/dashboard/partials/slo-cards?service=search"' in page
    assert 'hx-trigger="every 15s"' in page
    fragment = http.get("/dashboard/partials/slo-cards?service=search")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert {service for service, _ in _cards(fragment.text)} == {"search"}


def test_chart_data_is_split_by_version_with_markers(dashboard: Dashboard) -> None:
    http = _logged_in(dashboard)
    data = http.get("/dashboard/data/charts?range=6h&service=chat").json()
    assert data["step_s"] == 300 and len(data["times"]) == 72
    assert data["series"] == ["v1", "v2"]
    assert data["times"][-1] <= NOW < data["times"][-1] + 300
    v2_errors = [v for v in data["values"]["error_rate"][1] if v is not None]
    v1_errors = [v for v in data["values"]["error_rate"][0] if v is not None]
    assert len(v2_errors) == 24  # two hours of 5-minute steps
    assert set(v1_errors) == {0.0}
    # 10 requests of v2 per 5 minutes, 3 or 2 of them failing (every other minute).
    assert set(v2_errors) <= {0.2, 0.3}
    p95 = [v for v in data["values"]["latency_p95_ms"][0] if v is not None]
    assert all(abs(v - 550) / 550 < 0.02 for v in p95)  # v1: 200..550 ms, 1 % sketch
    assert {m["kind"] for m in data["markers"]} == {"deploy", "flag"}
    assert any(m["label"] == "deploy chat v2" and m["ts"] == NOW - 3600 for m in data["markers"])
    bad = http.get("/dashboard/data/charts?range=2w")
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "range"


def test_every_range_renders(dashboard: Dashboard) -> None:
    http = _logged_in(dashboard)
    for name in RANGES:
        page = http.get(f"/?range={name}")
        assert page.status_code == 200
        assert f'<a href="?range={name}" aria-current="true">' in page.text
        data = http.get(f"/dashboard/data/charts?range={name}").json()
        assert data["range"] == name and data["series"]
    assert http.get("/?range=forever").status_code == 422


def test_service_page_lists_versions_models_and_top_errors(dashboard: Dashboard) -> None:
    http = _logged_in(dashboard)
    page = http.get("/services/chat?range=24h")
    assert page.status_code == 200
    text = page.text
    assert "gpt-4o-mini" in text
    assert "upstream_5xx" in text
    assert 'data-src="/dashboard/data/charts?range=24h&amp;service=chat"' in text
    assert 'data-minute-url="/services/chat/minute"' in text
    assert http.get("/services/nope").status_code == 404


def test_a_minute_lists_its_raw_requests_with_feedback(dashboard: Dashboard) -> None:
    http = _logged_in(dashboard)
    fragment = http.get(f"/services/chat/minute?ts={CLICKED_MINUTE + 42}")
    assert fragment.status_code == 200
    text = fragment.text
    assert text.count("<tr") == 11  # the header and the minute's 10 requests
    assert "thumbs down" in text
    assert "wrong answer &lt;b&gt;bold&lt;/b&gt;" in text  # a user's comment, escaped
    assert TRACE_WITH_FEEDBACK not in text
    assert "pii" in text and "$0.001000" in text
    bad = http.get("/services/chat/minute?ts=soon")
    assert bad.status_code == 422 and "Unix seconds" in bad.text


def test_names_from_traffic_are_escaped_everywhere(dashboard: Dashboard) -> None:
    seed_hostile(dashboard.engine)
    http = _logged_in(dashboard)
    escaped = str(escape(HOSTILE))  # as Jinja's autoescape writes it
    pages = [
        http.get("/").text,
        http.get("/services/chat").text,
        http.get(f"/services/chat/minute?ts={NOW - 120}").text,
        http.get("/dashboard/partials/slo-cards").text,
    ]
    for text in pages:
        assert HOSTILE not in text
        assert "<script>alert" not in text
    assert escaped in pages[0]  # the hostile service's cards, escaped
    assert escaped in pages[2]  # the hostile version in the raw requests
    data = http.get("/dashboard/data/charts?range=1h").json()
    assert HOSTILE in data["series"]  # JSON carries the name as data, drawn as text
