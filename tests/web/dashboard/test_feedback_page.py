"""The feedback page over HTTP: the board and its filters, an item's actions by role, CSRF,
validation beside the field, refused transitions that change nothing, escaped comments,
and the clusters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from prodloop.store.schema import feedback, feedback_history
from tests.api.support import ControlPlane
from tests.web.dashboard.conftest import Dashboard
from tests.web.dashboard.support import HOSTILE, NOW, csrf_of, login, seeded_plane
from tests.web.dashboard.test_browser import WIDTHS, Session

HX = {"HX-Request": "true", "HX-Target": "feedback-detail"}


def add_feedback(engine: Engine, **values: Any) -> int:
    """A feedback row as ingest stores it; the id."""
    row: dict[str, Any] = {
        "created_at": NOW - 600,
        "source": "widget",
        "rating": 0.0,
        "rating_kind": "thumbs",
        "is_negative": True,
        "comment": "",
        "updated_at": NOW - 600,
        "service": "chat",
        "version": "v1",
        **values,
    }
    with engine.begin() as conn:
        key = conn.execute(insert(feedback).values(**row)).inserted_primary_key
    assert key is not None
    return int(key[0])


def state_of(engine: Engine, feedback_id: int) -> tuple[str, str | None, int | None, int]:
    with engine.connect() as conn:
        row = conn.execute(
            select(feedback.c.state, feedback.c.backlog_id, feedback.c.duplicate_of).where(
                feedback.c.id == feedback_id
            )
        ).one()
        changes = conn.execute(
            select(func.count())
            .select_from(feedback_history)
            .where(feedback_history.c.feedback_id == feedback_id)
        ).scalar_one()
    return row.state, row.backlog_id, row.duplicate_of, int(changes)


@pytest.fixture
def items(dashboard: Dashboard) -> dict[str, int]:
    e = dashboard.engine
    return {
        "export": add_feedback(e, comment="export to csv is broken", category="bug"),
        "hostile": add_feedback(e, comment=HOSTILE, version="v2", is_support=True),
        "stars": add_feedback(
            e,
            comment="great answers",
            rating=5.0,
            rating_kind="stars",
            is_negative=False,
            version="v2",
        ),
    }


def logged_in(dashboard: Dashboard, name: str) -> tuple[TestClient, str]:
    http = dashboard.new_client()
    assert login(http, name).status_code == 303
    page = http.get("/feedback")
    assert page.status_code == 200
    return http, csrf_of(page.text)


def test_the_board_shows_items_by_state_and_escapes_comments(
    dashboard: Dashboard, items: dict[str, int]
) -> None:
    http, _ = logged_in(dashboard, "vera")
    page = http.get("/feedback")
    assert page.status_code == 200
    assert '<a href="/feedback" aria-current="page">Feedback</a>' in page.text
    assert f'data-id="{items["export"]}" data-state="new"' in page.text
    assert "export to csv is broken" in page.text
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert 'class="tag support"' in page.text
    assert "5/5" in page.text and ">bug<" in page.text
    # A viewer sees no action.
    detail = http.get(f"/feedback/{items['hostile']}")
    assert detail.status_code == 200
    assert "<script>alert" not in detail.text
    assert "/triage" not in detail.text


def test_filters_by_version_and_rating(dashboard: Dashboard, items: dict[str, int]) -> None:
    http, _ = logged_in(dashboard, "vera")
    only_v2 = http.get("/feedback", params={"version": "v2"})
    assert only_v2.status_code == 200
    assert f'data-id="{items["hostile"]}"' in only_v2.text
    assert f'data-id="{items["export"]}"' not in only_v2.text
    stars = http.get(
        "/feedback", params={"rating": "5"}, headers={"HX-Request": "true", "HX-Target": "board"}
    )
    assert stars.status_code == 200
    assert 'id="board"' in stars.text and "<html" not in stars.text
    assert f'data-id="{items["stars"]}"' in stars.text
    assert f'data-id="{items["hostile"]}"' not in stars.text
    assert 'hx-get="/feedback?rating=5"' in stars.text  # the poll keeps the filter
    bad = http.get("/feedback", params={"rating": "9"})
    assert bad.status_code == 422
    assert 'id="fb-rating-error"' in bad.text
    assert "is not up, down or a number of stars 1..5" in bad.text


def test_an_operator_triages_links_and_closes(dashboard: Dashboard, items: dict[str, int]) -> None:
    http, token = logged_in(dashboard, "otto")
    fid = items["export"]
    triaged = http.post(
        f"/feedback/{fid}/triage",
        headers=HX,
        data={"csrf_token": token, "state": "triaged", "note": "seen"},
    )
    assert triaged.status_code == 200, triaged.text
    assert f"Feedback {fid} is triaged." in triaged.text
    assert triaged.headers["HX-Trigger"] == "feedback-changed"
    assert state_of(dashboard.engine, fid) == ("triaged", None, None, 1)
    with dashboard.engine.connect() as conn:
        actor = conn.execute(select(feedback_history.c.actor)).scalar_one()
    assert actor == "otto"

    linked = http.post(
        f"/feedback/{fid}/link", headers=HX, data={"csrf_token": token, "backlog": "GH-12"}
    )
    assert linked.status_code == 200
    assert state_of(dashboard.engine, fid) == ("planned", "GH-12", None, 2)

    # Without htmx: a redirect back to the item.
    closed = http.post(f"/feedback/{fid}/close", data={"csrf_token": token, "as": "shipped"})
    assert closed.status_code == 303
    assert closed.headers["location"] == f"/feedback/{fid}"
    assert state_of(dashboard.engine, fid)[0] == "shipped"
    board = http.get("/feedback")
    assert f'data-id="{fid}" data-state="shipped"' in board.text


def test_duplicates_point_at_an_item(dashboard: Dashboard, items: dict[str, int]) -> None:
    http, token = logged_in(dashboard, "otto")
    fid = items["hostile"]
    bad = http.post(
        f"/feedback/{fid}/triage",
        headers=HX,
        data={"csrf_token": token, "state": "duplicate", "duplicate_of": "abc"},
    )
    assert bad.status_code == 422
    assert 'id="fb-dup-error"' in bad.text and "is not a feedback id" in bad.text
    missing = http.post(
        f"/feedback/{fid}/triage",
        headers=HX,
        data={"csrf_token": token, "state": "duplicate", "duplicate_of": "99999"},
    )
    assert missing.status_code == 404
    assert "no feedback 99999" in missing.text
    assert state_of(dashboard.engine, fid) == ("new", None, None, 0)
    done = http.post(
        f"/feedback/{fid}/triage",
        headers=HX,
        data={"csrf_token": token, "state": "duplicate", "duplicate_of": str(items["export"])},
    )
    assert done.status_code == 200
    assert state_of(dashboard.engine, fid) == ("duplicate", None, items["export"], 1)
    board = http.get("/feedback")
    closed = board.text.split('data-state="closed"')[1]
    assert f'data-id="{fid}"' in closed


def test_bad_input_and_refused_transitions_change_nothing(
    dashboard: Dashboard, items: dict[str, int]
) -> None:
    http, token = logged_in(dashboard, "otto")
    fid = items["export"]
    bad_id = http.post(
        f"/feedback/{fid}/link", headers=HX, data={"csrf_token": token, "backlog": "not an id!"}
    )
    assert bad_id.status_code == 422
    assert 'id="fb-backlog-error"' in bad_id.text
    assert "is not a backlog id like GH-123" in bad_id.text
    assert 'value="not an id!"' in bad_id.text  # what was typed stays in the field
    bad_state = http.post(
        f"/feedback/{fid}/triage", headers=HX, data={"csrf_token": token, "state": "planned"}
    )
    assert bad_state.status_code == 422
    assert "fb-state-error" in bad_state.text
    refused = http.post(
        f"/feedback/{fid}/close", headers=HX, data={"csrf_token": token, "as": "shipped"}
    )
    assert refused.status_code == 409
    assert "cannot go from new to shipped" in refused.text
    assert state_of(dashboard.engine, fid) == ("new", None, None, 0)
    unknown = http.post(
        "/feedback/99999/triage", headers=HX, data={"csrf_token": token, "state": "triaged"}
    )
    assert unknown.status_code == 404
    assert http.get("/feedback/99999").status_code == 404


def test_a_viewer_and_a_missing_csrf_token_are_refused(
    dashboard: Dashboard, items: dict[str, int]
) -> None:
    fid = items["export"]
    viewer, token = logged_in(dashboard, "vera")
    refused = viewer.post(
        f"/feedback/{fid}/triage", headers=HX, data={"csrf_token": token, "state": "triaged"}
    )
    assert refused.status_code == 403
    assert "needs the operator role" in refused.text
    operator, _ = logged_in(dashboard, "otto")
    forged = operator.post(f"/feedback/{fid}/triage", data={"state": "triaged"})
    assert forged.status_code == 403
    assert state_of(dashboard.engine, fid) == ("new", None, None, 0)
    anonymous = dashboard.new_client().get("/feedback")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")


def test_clusters_group_similar_comments(dashboard: Dashboard, items: dict[str, int]) -> None:
    for comment in ("export to csv fails", "csv export is broken again", "the export to csv"):
        add_feedback(dashboard.engine, comment=comment, version="v3")
    http, _ = logged_in(dashboard, "vera")
    found = http.get("/feedback/clusters", headers={"HX-Request": "true"})
    assert found.status_code == 200
    rows = found.text.split("<tr data-cluster=")[1:]
    biggest = rows[0]
    assert '<td class="num">4</td>' in biggest
    assert '<td class="num">100%</td>' in biggest
    assert "v1, v3" in biggest
    assert "<script>alert" not in found.text
    cluster = int(biggest.split('"')[1])
    board = http.get("/feedback", params={"cluster": str(cluster)})
    assert board.text.count('class="fb-card') == 4


# --- in a real browser -------------------------------------------------------------------


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, seeded_store: Path) -> Iterator[ControlPlane]:
    with seeded_plane(tmp_path_factory.mktemp("feedback-browser"), seeded_store) as running:
        yield running


def test_triage_through_the_board(browser: Browser, plane: ControlPlane) -> None:
    fid = add_feedback(plane.engine, comment="the export button does nothing", category="bug")
    add_feedback(plane.engine, comment=HOSTILE, version="v2", is_support=True)
    operator = Session(browser, plane, "otto")
    try:
        page = operator.page
        page.goto(plane.url + "/feedback")
        card = page.locator(f'#board .fb-column[data-state="new"] .fb-card[data-id="{fid}"]')
        assert "the export button does nothing" in card.inner_text()
        assert page.locator("script:has-text('alert')").count() == 0
        card.locator("header a").click()
        detail = page.locator("#feedback-detail")
        detail.locator("button", has_text="Triage").wait_for(timeout=5000)
        detail.locator('input[name="note"]').fill("reproduced")
        with page.expect_response(lambda r: r.url.endswith(f"/feedback/{fid}/triage")) as done:
            detail.locator("button", has_text="Triage").click()
        assert done.value.status == 200
        detail.locator(".notice").wait_for(timeout=5000)
        assert f"Feedback {fid} is triaged." in detail.inner_text()
        assert state_of(plane.engine, fid) == ("triaged", None, None, 1)
        # The board redraws itself after the action: the card is now in the triaged column.
        moved = page.locator(f'#board .fb-column[data-state="triaged"] .fb-card[data-id="{fid}"]')
        moved.wait_for(timeout=5000)
        page.locator("#fb-clusters table, #fb-clusters p.empty").first.wait_for(timeout=10_000)
        assert operator.errors == []
        for name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"/feedback is {overflow} px too wide at {width} px"
            suffix = "" if name == "desktop" else "-390"
            operator.screenshot(f"feedback{suffix}")
    finally:
        operator.close()
