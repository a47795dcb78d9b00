"""The triage state machine: allowed moves, refusals naming the move, history rows."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from prodloop.errors import NotFoundError, ValidationError
from prodloop.feedback.backlog.links import get_backlog_item, link_backlog
from prodloop.feedback.items import list_feedback, load_feedback, read_history
from prodloop.feedback.triage import TransitionError, close_feedback, triage_feedback
from prodloop.store import connect
from tests.feedback.helpers import T0, add_feedback, board_config, thumbs_down


@pytest.fixture
def engine(store_url: str) -> Engine:
    return connect(store_url)


def _history(engine: Engine, feedback_id: int) -> list[tuple[str | None, str, str, str]]:
    with engine.connect() as conn:
        return [(h.from_state, h.to_state, h.actor, h.note)
                for h in read_history(conn, [feedback_id])]  # fmt: skip


def test_new_to_triaged_to_planned_to_shipped_writes_history(engine: Engine) -> None:
    config = board_config()
    fid = thumbs_down(engine, config, "The PDF export is blank")
    triaged = triage_feedback(engine, fid, "triaged", by="ana", now=T0 + 60, note="repro'd")
    assert (triaged.state, triaged.updated_at) == ("triaged", T0 + 60)

    planned = link_backlog(engine, fid, "GH-123", by="ana", now=T0 + 120)
    assert (planned.state, planned.backlog_id) == ("planned", "GH-123")
    with engine.connect() as conn:
        item = get_backlog_item(conn, "GH-123")
    assert item is not None and (item.tracker, item.external_id) == ("github", "123")

    shipped = close_feedback(engine, fid, "shipped", by="bo", now=T0 + 180)
    assert shipped.state == "shipped"
    assert _history(engine, fid) == [
        (None, "new", "api", ""),
        ("new", "triaged", "ana", "repro'd"),
        ("triaged", "planned", "ana", "linked to GH-123"),
        ("planned", "shipped", "bo", ""),
    ]


def test_refusals_name_the_transition_and_change_nothing(engine: Engine) -> None:
    config = board_config()
    fid = thumbs_down(engine, config, "slow")
    close_feedback(engine, fid, "wont_fix", by="ana", now=T0)
    with pytest.raises(TransitionError) as refused:
        close_feedback(engine, fid, "shipped", by="ana", now=T0 + 1)
    assert str(refused.value) == (
        f"as: feedback {fid} cannot go from wont_fix to shipped (from wont_fix: triaged)"
    )
    assert refused.value.status_code == 409

    # Reopened, then shipped through a link: shipped is final.
    triage_feedback(engine, fid, "triaged", by="ana", now=T0 + 2)
    link_backlog(engine, fid, "LIN-ENG-4", by="ana", now=T0 + 3)
    close_feedback(engine, fid, "shipped", by="ana", now=T0 + 4)
    with pytest.raises(TransitionError, match="from shipped: none: it is final"):
        triage_feedback(engine, fid, "triaged", by="ana", now=T0 + 5)
    with pytest.raises(TransitionError, match="cannot go from shipped to planned"):
        link_backlog(engine, fid, "GH-9", by="ana", now=T0 + 6)
    assert load_feedback(engine, fid).backlog_id == "LIN-ENG-4"
    assert [h[1] for h in _history(engine, fid)] == [
        "new", "wont_fix", "triaged", "planned", "shipped"
    ]  # fmt: skip
    with engine.connect() as conn:
        assert get_backlog_item(conn, "GH-9") is None  # the refused link left nothing

    for call, field in [
        (lambda: triage_feedback(engine, fid, "shipped", by="a", now=T0), "state"),
        (lambda: triage_feedback(engine, fid, "done", by="a", now=T0), "state"),
        (lambda: triage_feedback(engine, fid, "triaged", by=" ", now=T0), "by"),
        (lambda: link_backlog(engine, fid, "not an id!", by="a", now=T0), "backlog"),
    ]:
        with pytest.raises(ValidationError) as bad:
            call()
        assert bad.value.field == field
    with pytest.raises(NotFoundError, match="no feedback 999"):
        triage_feedback(engine, 999, "triaged", by="a", now=T0)


def test_duplicates_point_at_the_original(engine: Engine) -> None:
    config = board_config()
    first = add_feedback(engine, config, comment="login loop")
    second = add_feedback(engine, config, comment="login loops", at=T0 + 1)
    third = add_feedback(engine, config, comment="stuck at login", at=T0 + 2)
    with pytest.raises(ValidationError, match="needs the id") as missing:
        triage_feedback(engine, second, "duplicate", by="ana", now=T0)
    assert missing.value.field == "duplicate_of"
    with pytest.raises(ValidationError, match="cannot duplicate itself"):
        triage_feedback(engine, second, "duplicate", by="ana", now=T0, duplicate_of=second)
    with pytest.raises(NotFoundError):
        triage_feedback(engine, second, "duplicate", by="ana", now=T0, duplicate_of=77)

    assert triage_feedback(engine, second, "duplicate", by="ana", now=T0,
                           duplicate_of=first).duplicate_of == first  # fmt: skip
    # A duplicate of a duplicate is recorded against the original.
    assert close_feedback(engine, third, "duplicate", by="ana", now=T0,
                          duplicate_of=second).duplicate_of == first  # fmt: skip
    reopened = triage_feedback(engine, third, "triaged", by="ana", now=T0 + 9)
    assert (reopened.state, reopened.duplicate_of) == ("triaged", None)
    assert [i.id for i in list_feedback(engine, state="duplicate")] == [second]


def test_list_filters(engine: Engine) -> None:
    config = board_config()
    up = add_feedback(engine, config, comment="great", rating=1.0, rating_kind="thumbs")
    down = thumbs_down(engine, config, "bad", at=T0 + 1)
    stars = add_feedback(engine, config, rating=2.0, rating_kind="stars", comment="meh",
                         at=T0 + 2)  # fmt: skip
    assert [i.id for i in list_feedback(engine)] == [stars, down, up]
    assert [i.id for i in list_feedback(engine, rating="up")] == [up]
    assert [i.id for i in list_feedback(engine, rating="down")] == [down]
    assert [i.id for i in list_feedback(engine, rating="2")] == [stars]
    assert load_feedback(engine, stars).rating_text == "2/5"
    with pytest.raises(ValidationError, match="not up, down or a number of stars"):
        list_feedback(engine, rating="7")
    with pytest.raises(ValidationError, match="unknown state 'open'"):
        list_feedback(engine, state="open")
