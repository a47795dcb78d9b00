"""The flags pages: the list, a flag's detail and history, the admin's edit form (the same
dict the API's PUT takes, the same validation, errors beside their fields) and kill
switch; roles and CSRF; and in a real browser: edit a percentage, then kill the flag."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from playwright.sync_api import Browser
from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.releases.flags.model import flag_from_dict
from prodloop.releases.flags.store import create_flag, flag_audit_log, get_flag, set_rollout
from prodloop.store.schema import flag_audit, flags
from tests.api.support import API_TOKEN, ControlPlane
from tests.web.dashboard.conftest import Dashboard
from tests.web.dashboard.support import (
    HOSTILE,
    NOW,
    PASSWORD,
    csrf_of,
    login,
    seeded_plane,
)
from tests.web.dashboard.test_browser import ARTIFACTS, WIDTHS

RULE = {"attribute": "country", "operator": "in", "value": ["DE", "FR"], "variant": "on"}


def make_flags(engine: Engine) -> None:
    """checkout (boolean, a rule, 25 % rolled out) and tone (multivariate, off, with a
    description that tries to inject a script)."""
    checkout = flag_from_dict({"key": "checkout", "description": "new checkout", "rules": [RULE]})
    create_flag(engine, checkout, by="bob", now=NOW - 3600)
    set_rollout(engine, "checkout", 25, by="bob", now=NOW - 1800)
    tone = flag_from_dict(
        {
            "key": "tone",
            "kind": "multivariate",
            "variants": {"warm": {"t": 0.9}, "cool": {"t": 0.2}, "plain": None},
            "description": HOSTILE,
        }
    )
    create_flag(engine, tone, by="bob", now=NOW - 600)


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {
            table.name: [dict(row) for row in conn.execute(select(table)).mappings()]
            for table in (flags, flag_audit)
        }


def _logged_in(dashboard: Dashboard, name: str) -> TestClient:
    http = dashboard.new_client()
    assert login(http, name).status_code == 303
    return http


def _form(**changes: Any) -> dict[str, Any]:
    """checkout's form as the page fills it, with `changes`."""
    data: dict[str, Any] = {
        "rule_attribute": ["country", "", ""],
        "rule_operator": ["in", "equals", "equals"],
        "rule_value": ['["DE", "FR"]', "", ""],
        "rule_target": ["on", "", ""],
        "rollout_variant": ["on", "off"],
        "rollout_percent": ["25", "75"],
        "enabled": "on",
        "default_variant": "on",
        "off_variant": "off",
        "sticky_attribute": "targetingKey",
        "description": "new checkout",
        "revision": "2",
    }
    data.update(changes)
    return data


def _save(http: TestClient, key: str, data: dict[str, Any], token: str | None = None) -> Any:
    token = token if token is not None else csrf_of(http.get(f"/flags/{key}").text)
    return http.post(f"/flags/{key}", data={**data, "csrf_token": token})


def test_the_list_shows_every_flag_escaped(dashboard: Dashboard) -> None:
    make_flags(dashboard.engine)
    page = _logged_in(dashboard, "vera").get("/flags")
    assert page.status_code == 200
    assert 'aria-current="page">Flags</a>' in page.text
    rows = {
        key: [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]
        for key, cells in (
            (key, re.findall(r"<td[^>]*>(.*?)</td>", row, re.S))
            for key, row in re.findall(r'<tr data-key="([^"]+)">(.*?)</tr>', page.text, re.S)
        )
    }
    assert rows == {
        "checkout": ["checkout", "boolean", "on", "on", "1", "on 25% · off 75%", "new checkout"],
        "tone": ["tone", "multivariate", "off", "warm", "0", "–", HOSTILE],
    }
    assert HOSTILE not in page.text
    assert str(escape(HOSTILE)) in page.text


def test_a_flag_shows_its_rules_rollout_and_history(dashboard: Dashboard) -> None:
    make_flags(dashboard.engine)
    http = _logged_in(dashboard, "vera")
    page = http.get("/flags/checkout").text
    assert "on 25% · off 75%" in page and "(sticky on targetingKey)" in page
    # A viewer reads the rules; no form, no kill switch.
    assert re.search(r"<td>country</td><td>in</td><td><code>\[&#34;DE&#34;, &#34;FR&#34;\]", page)
    assert 'name="rule_attribute"' not in page and "Kill switch" not in page
    history = re.findall(
        r"<tr>\s*<td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>", page.split("History")[1]
    )
    assert history == [
        ("2026-01-31 08:30:30 UTC", "bob", "rollout"),
        ("2026-01-31 08:00:30 UTC", "bob", "create"),
    ]
    rollout_change = re.search(r"<code>rollout</code>: (.*?)</div>", page, re.S)
    assert rollout_change is not None
    assert html.unescape(re.sub(r"<[^>]+>", "", rollout_change.group(1))) == (
        '– → {"weights": {"on": 25.0, "off": 75.0}}'
    )
    tone = http.get("/flags/tone").text
    assert HOSTILE not in tone
    assert str(escape(HOSTILE)) in tone  # in the description and in the history
    assert http.get("/flags/nope").status_code == 404


def test_an_admin_saves_the_same_flag_the_apis_put_makes(dashboard: Dashboard) -> None:
    make_flags(dashboard.engine)
    http = _logged_in(dashboard, "ada")
    page = http.get("/flags/checkout").text
    assert 'name="rollout_percent" value="25"' in page and "Kill switch" in page
    assert 'hx-confirm="Kill checkout? Everyone gets its off variant (off) at once."' in page
    rules = ['["DE", "FR"]', "^beta-", ""]
    saved = _save(
        http,
        "checkout",
        _form(
            rule_attribute=["country", "email", ""],
            rule_operator=["in", "regex", "equals"],
            rule_value=rules,
            rule_target=["on", "on:50,off:50", ""],
            rollout_percent=["40", "60"],
        ),
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/flags/checkout?done=saved"
    flag = get_flag(dashboard.engine, "checkout")
    assert flag.revision == 3 and flag.updated_by == "ada"
    assert flag.rollout is not None and flag.rollout.weights == (("on", 40.0), ("off", 60.0))
    entry = flag_audit_log(dashboard.engine, "checkout")[0]
    assert (entry.by, entry.action, entry.at) == ("ada", "set", NOW)

    # The API's PUT with the same document makes the same flag.
    body = {
        "enabled": True,
        "description": "new checkout",
        "rules": [
            RULE,
            {"attribute": "email", "operator": "regex", "value": "^beta-",
             "split": {"weights": {"on": 50, "off": 50}}},
        ],
        "rollout": {"weights": {"on": 40, "off": 60}},
    }  # fmt: skip
    create_flag(dashboard.engine, flag_from_dict({"key": "twin"}), by="bob", now=NOW)
    put = dashboard.client.put(
        "/api/v1/flags/twin", json=body, headers={"authorization": f"Bearer {API_TOKEN}"}
    )
    assert put.status_code == 200, put.text
    bookkeeping = ("key", "revision", "created_at", "updated_at", "updated_by")
    twin = {k: v for k, v in put.json().items() if k not in bookkeeping}
    assert twin == {k: v for k, v in flag.to_dict().items() if k not in bookkeeping}
    shown = http.get(saved.headers["location"]).text
    assert '<p class="notice" role="status">Saved.</p>' in shown
    assert 'value="on:50,off:50"' in shown and 'value="^beta-"' in shown


@pytest.mark.parametrize(
    ("changes", "where", "message"),
    [
        ({"rollout_percent": ["30", "60"]}, "rollout-error", "weights: percentages sum to 90"),
        ({"rollout_percent": ["ten", "90"]}, "rollout-error", "weights.on: must be a number"),
        (
            {"rule_value": ["(", "", ""], "rule_operator": ["regex", "equals", "equals"]},
            "rule-0-error",
            "value: not a valid regex",
        ),
        ({"rule_target": ["blue", "", ""]}, "rule-0-error", "variant: unknown variant &#39;blue"),
        (
            {"rule_attribute": ["country", "", "plan"], "rule_value": ['["DE"]', "", "pro"],
             "rule_target": ["on", "", "on:x"]},
            "rule-2-error",
            "not a percentage",
        ),
        ({"default_variant": "gold"}, "default_variant-error", "unknown variant &#39;gold"),
    ],
)  # fmt: skip
def test_an_invalid_form_shows_the_error_beside_its_field_and_changes_nothing(
    dashboard: Dashboard, changes: dict[str, Any], where: str, message: str
) -> None:
    make_flags(dashboard.engine)
    before = snapshot(dashboard.engine)
    http = _logged_in(dashboard, "ada")
    answer = _save(http, "checkout", _form(**changes))
    assert answer.status_code == 422
    error = re.search(rf'<p class="field-error" id="{where}">(.*?)</p>', answer.text)
    assert error is not None and message in error.group(1), answer.text
    # The form keeps what was typed.
    for name, values in changes.items():
        if name in ("rule_operator", "default_variant"):
            continue  # a select
        for value in values:
            if value:
                assert f'value="{escape(value)}"' in answer.text
    assert snapshot(dashboard.engine) == before


def test_the_kill_switch_turns_the_flag_off(dashboard: Dashboard) -> None:
    make_flags(dashboard.engine)
    http = _logged_in(dashboard, "ada")
    token = csrf_of(http.get("/flags/checkout").text)
    killed = http.post(
        "/flags/checkout/kill", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert killed.status_code == 200
    assert killed.headers["hx-redirect"] == "/flags/checkout?done=killed"
    flag = get_flag(dashboard.engine, "checkout")
    assert flag.is_enabled is False and flag.revision == 3
    entry = flag_audit_log(dashboard.engine, "checkout")[0]
    assert (entry.by, entry.action) == ("ada", "kill")
    page = http.get("/flags/checkout?done=killed").text
    assert "Killed: everyone now gets the off variant." in page and "Kill switch" not in page
    assert re.search(r"<code>enabled</code>: <span class=\"before\">true</span> → ", page)

    plain = http.post("/flags/tone/kill", data={"csrf_token": token})
    assert plain.status_code == 303 and plain.headers["location"] == "/flags/tone?done=killed"
    before = snapshot(dashboard.engine)
    missing = http.post(
        "/flags/nope/kill", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert missing.status_code == 404 and "no flag &#39;nope&#39;" in missing.text
    assert snapshot(dashboard.engine) == before


def test_a_save_over_an_unseen_change_is_refused(dashboard: Dashboard) -> None:
    make_flags(dashboard.engine)
    http = _logged_in(dashboard, "ada")
    token = csrf_of(http.get("/flags/checkout").text)
    set_rollout(dashboard.engine, "checkout", 50, by="bob", now=NOW)  # meanwhile
    before = snapshot(dashboard.engine)
    stale = _save(http, "checkout", _form(rollout_percent=["30", "70"]), token=token)
    assert stale.status_code == 409
    assert "bob changed this flag since you opened it (now revision 3)" in stale.text
    assert 'name="revision" value="3"' in stale.text and 'value="30"' in stale.text
    assert snapshot(dashboard.engine) == before
    again = _save(http, "checkout", _form(rollout_percent=["30", "70"], revision="3"))
    assert again.status_code == 303
    rollout = get_flag(dashboard.engine, "checkout").rollout
    assert rollout is not None and rollout.weights == (("on", 30.0), ("off", 70.0))


def test_a_rule_split_keeps_its_bucketing_attribute_and_salt(dashboard: Dashboard) -> None:
    split = {"weights": {"on": 20, "off": 80}, "attribute": "orgId", "salt": "s1"}
    rule = {"attribute": "plan", "operator": "equals", "value": "pro", "split": split}
    create_flag(dashboard.engine, flag_from_dict({"key": "beta", "rules": [rule]}), by="bob",
                now=NOW)  # fmt: skip
    http = _logged_in(dashboard, "ada")
    page = http.get("/flags/beta").text
    assert 'name="rule_target" value="on:20,off:80"' in page
    data = _form(
        rule_attribute=["plan", "", ""],
        rule_operator=["equals", "equals", "equals"],
        rule_value=["pro", "", ""],
        rule_target=["on:35,off:65", "", ""],
        rollout_percent=["", ""],
        enabled="",
        description="",
        revision="1",
    )
    assert _save(http, "beta", data).status_code == 303
    saved = get_flag(dashboard.engine, "beta")
    assert saved.rules[0].to_dict() == {
        **rule,
        "split": {"weights": {"on": 35.0, "off": 65.0}, "attribute": "orgId", "salt": "s1"},
    }
    assert saved.rollout is None and saved.is_enabled is False


@pytest.mark.parametrize("name", ["vera", "otto"])
def test_below_admin_every_action_is_refused_and_nothing_changes(
    dashboard: Dashboard, name: str
) -> None:
    make_flags(dashboard.engine)
    before = snapshot(dashboard.engine)
    http = _logged_in(dashboard, name)
    token = csrf_of(http.get("/flags/checkout").text)
    role = "viewer" if name == "vera" else "operator"
    for path, data in (("/flags/checkout", _form(rollout_percent=["90", "10"])),
                       ("/flags/checkout/kill", {})):  # fmt: skip
        for headers in ({}, {"HX-Request": "true"}):
            answer = http.post(path, data={**data, "csrf_token": token}, headers=headers)
            assert answer.status_code == 403, path
            assert f"this needs the admin role; you are {role}" in answer.text
    assert snapshot(dashboard.engine) == before


def test_changes_need_the_csrf_token(dashboard: Dashboard) -> None:
    make_flags(dashboard.engine)
    before = snapshot(dashboard.engine)
    http = _logged_in(dashboard, "ada")
    for token in ("", "f" * 64):
        assert _save(http, "checkout", _form(), token=token).status_code == 403
        killed = http.post("/flags/checkout/kill", data={"csrf_token": token})
        assert killed.status_code == 403 and "did not come from this site" in killed.text
    assert snapshot(dashboard.engine) == before
    anonymous = dashboard.new_client()
    assert anonymous.get("/flags").headers["location"] == "/login?next=%2Fflags"


# In a real browser.


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, seeded_store: Path) -> Iterator[ControlPlane]:
    with seeded_plane(tmp_path_factory.mktemp("flags-browser"), seeded_store) as running:
        make_flags(running.engine)
        yield running


def test_browser_edits_a_percentage_then_kills_the_flag(
    browser: Browser, plane: ControlPlane
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(plane.url + "/login")
        page.fill("#name", "ada")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(plane.url + "/")
        page.goto(plane.url + "/flags")
        page.click("a[href='/flags/checkout']")
        page.wait_for_url(plane.url + "/flags/checkout")

        page.fill("input[data-variant=on]", "60")
        page.fill("input[data-variant=off]", "40")
        page.click("button:has-text('Save')")
        page.wait_for_url(plane.url + "/flags/checkout?done=saved")
        assert page.locator("#flag-rollout").inner_text().startswith("on 60% · off 40%")
        flag = get_flag(plane.engine, "checkout")
        assert flag.rollout is not None and flag.rollout.weights == (("on", 60.0), ("off", 40.0))

        ARTIFACTS.mkdir(exist_ok=True)
        for name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            for path in ("/flags", "/flags/checkout"):
                page.goto(plane.url + path)
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{path} is {overflow} px too wide at {width} px ({name})"
            page.screenshot(path=str(ARTIFACTS / f"dashboard-flags-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

        page.once("dialog", lambda dialog: dialog.accept())
        page.click("button:has-text('Kill switch')")
        page.wait_for_url(plane.url + "/flags/checkout?done=killed")
        assert page.locator("#flag-state").inner_text() == "off"
        assert get_flag(plane.engine, "checkout").is_enabled is False
        assert [e.action for e in flag_audit_log(plane.engine, "checkout")][:2] == ["kill", "set"]
        page.screenshot(path=str(ARTIFACTS / "dashboard-flags.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
