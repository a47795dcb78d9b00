"""The support pipeline: flagged feedback reaches Slack and a webhook through the loop."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import update

from prodloop.alerting.deliveries import list_deliveries
from prodloop.config import parse_config
from prodloop.feedback.items import load_feedback
from prodloop.feedback.tick import run_feedback
from prodloop.loop import tick
from prodloop.store import connect
from prodloop.store.schema import feedback
from tests.alerting.recorder import (
    SLACK_PATH,
    WEBHOOK_PATH,
    check_alertmanager,
    check_slack,
    environ,
    paging_yaml,
    recording_server,
)
from tests.feedback.helpers import T0, add_feedback, add_request, thumbs_down

SUPPORT = """
feedback:
  support: {notifiers: [slack, webhook], categories: [bug]}
"""


def test_flagged_feedback_is_told_once_to_slack_and_the_webhook(tmp_path: Path) -> None:
    with recording_server() as recorder:
        text = f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n" + paging_yaml(
            recorder.url, extra=SUPPORT
        )
        config = parse_config(text, environ=environ(recorder.url))
        engine = connect(config.store.url)
        add_request(engine, "t-guard", guardrails="pii", version="v2", at=T0 - 1)
        comment = "<script>alert(1)</script> it crashed & I lost my draft"
        bug = add_feedback(engine, config, comment=comment, category="bug", trace_id="t-late",
                           at=T0)  # fmt: skip
        happy = add_feedback(engine, config, comment="fine", rating=1.0, rating_kind="thumbs",
                             trace_id="t-guard", at=T0)  # fmt: skip
        blocked = thumbs_down(engine, config, "why was this blocked?", trace_id="t-guard", at=T0)

        # The guardrail request was known: its complaint is flagged at once.
        assert load_feedback(engine, blocked).is_support
        assert not load_feedback(engine, happy).is_support
        assert not load_feedback(engine, bug).is_support  # its request has not arrived yet

        tick(engine, config, T0 + 5)
        assert len(recorder.bodies(SLACK_PATH)) == 1
        # The failed request arrives late; the next tick matches it and flags the bug.
        add_request(engine, "t-late", status=502, error_class="upstream_5xx", at=T0 - 2)
        report = tick(engine, config, T0 + 10)
        assert report.support_notices == 1
        item = load_feedback(engine, bug)
        assert (item.service, item.version, item.support_notified_at) == ("chat", "v1", T0 + 10)
        assert item.support_reason == "bug report on a failed request (status 502, upstream_5xx)"

        slack = recorder.bodies(SLACK_PATH)
        assert len(slack) == 2 and all(check_slack(body) == [] for body in slack)
        message = slack[1]
        assert message["text"].startswith(f"Feedback #{bug} for support: chat v1: bug report")
        quoted = message["blocks"][1]["text"]["text"]
        assert quoted == "> &lt;script&gt;alert(1)&lt;/script&gt; it crashed &amp; I lost my draft"
        fields = [f["text"] for f in message["blocks"][1]["fields"]]
        assert "*Trace*\nt-late" in fields and "*Version*\nv1" in fields

        hooks = recorder.bodies(WEBHOOK_PATH)
        assert len(hooks) == 2 and all(check_alertmanager(body) == [] for body in hooks)
        labels = hooks[1]["alerts"][0]["labels"]
        assert labels["alertname"] == "FeedbackForSupport"
        assert labels["feedback_id"] == str(bug)
        assert comment in hooks[1]["alerts"][0]["annotations"]["summary"]  # JSON: text as is

        deliveries = list_deliveries(engine, state="sent")
        assert {(d.notifier, d.action, d.group_key) for d in deliveries} == {
            (name, "support", f"feedback:{i}") for name in ("slack", "webhook")
            for i in (bug, blocked)
        }  # fmt: skip

        # Told once: later ticks send nothing more.
        tick(engine, config, T0 + 60)
        assert len(recorder.bodies(SLACK_PATH)) == 2


def test_old_flags_and_missing_notifiers_send_nothing(tmp_path: Path) -> None:
    with recording_server() as recorder, httpx.Client():
        text = f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n" + paging_yaml(recorder.url)
        config = parse_config(text, environ=environ(recorder.url))
        engine = connect(config.store.url)
        add_request(engine, "t1", status=500, at=T0)
        fid = add_feedback(engine, config, comment="broken", category="bug", trace_id="t1", at=T0)
        assert load_feedback(engine, fid).is_support
        assert run_feedback(engine, config, T0 + 1) == 0  # no support notifiers configured

        with_support = parse_config(text + SUPPORT, environ=environ(recorder.url))
        # Flagged two days ago: a support channel added today is not flooded with it.
        with engine.begin() as conn:
            conn.execute(update(feedback).values(created_at=T0 - 2 * 86_400))
        assert run_feedback(engine, with_support, T0 + 2) == 0
        assert load_feedback(engine, fid).support_notified_at is None
