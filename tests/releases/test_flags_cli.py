"""`prodloop flags` through the real command."""

from __future__ import annotations

import json
from pathlib import Path

from prodloop.releases.flags import evaluate
from prodloop.releases.flags.store import flag_audit_log, get_flag
from prodloop.store import connect
from tests.cli.conftest import run_cli


def test_create_set_rollout_kill_list_show_audit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prodloop.db'}"
    env = {"PRODLOOP_DATABASE_URL": url}

    def ok(*args: str) -> str:
        result = run_cli("flags", *args, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "created flag 'new-prompt' (revision 1): off" in ok(
        "create", "new-prompt", "--description", "v2 prompt", "--by", "ann"
    )
    out = ok(
        "set",
        "new-prompt",
        "--rule",
        "country in DE,FR -> on",
        "--rule",
        "appVersion semver_gte 2.0.0 -> on:50,off:50",
        "--by",
        "bob",
    )
    assert "revision 2" in out
    assert "on, rollout on 100%" in ok("rollout", "new-prompt", "100", "--by", "ann")
    ok(
        "create",
        "model",
        "--kind",
        "multivariate",
        "--variant",
        'mini={"name": "gpt-4o-mini"}',
        "--variant",
        "big=gpt-4o",
        "--default",
        "big",
        "--off",
        "mini",
    )
    assert "big 10%, mini 90% (sticky on orgId)" in ok(
        "rollout", "model", "10", "--variant", "big", "--sticky", "orgId"
    )

    engine = connect(url)
    flag = get_flag(engine, "new-prompt")
    assert flag.rules[0].value == ["DE", "FR"]
    assert flag.rules[1].split is not None
    assert evaluate(flag, {"targetingKey": "anyone"}).value is True
    model = get_flag(engine, "model")
    assert model.value_of("mini") == {"name": "gpt-4o-mini"}
    assert model.value_of("big") == "gpt-4o"

    assert "killed flag 'new-prompt' (revision 4): off" in ok("kill", "new-prompt", "--by", "carol")
    assert evaluate(get_flag(engine, "new-prompt"), {"country": "DE"}).reason == "DISABLED"

    listing = ok("list")
    assert "new-prompt" in listing and "model" in listing
    assert [f["key"] for f in json.loads(ok("list", "--json"))["flags"]] == ["model", "new-prompt"]
    assert json.loads(ok("show", "new-prompt"))["enabled"] is False
    audit = ok("audit", "new-prompt")
    assert audit.index("kill") < audit.index("rollout") < audit.index("create")
    assert [e.by for e in flag_audit_log(engine, "new-prompt")] == ["carol", "ann", "bob", "ann"]
    engine.dispose()


def test_a_rule_that_cannot_compile_exits_2_and_changes_nothing(tmp_path: Path) -> None:
    env = {"PRODLOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'prodloop.db'}"}
    assert run_cli("flags", "create", "f", env=env, cwd=tmp_path).returncode == 0
    bad_regex = run_cli(
        "flags", "set", "f", "--rule", "email regex [a- -> on", env=env, cwd=tmp_path
    )
    assert bad_regex.returncode == 2
    assert "rules[0].value" in bad_regex.stderr and "regex" in bad_regex.stderr
    unknown_variant = run_cli("flags", "set", "f", "--rule", "plan equals pro -> maybe", env=env)
    assert unknown_variant.returncode == 2
    assert "rules[0].variant" in unknown_variant.stderr
    no_arrow = run_cli("flags", "set", "f", "--rule", "plan equals pro", env=env)
    assert (no_arrow.returncode, "--rule[0]" in no_arrow.stderr) == (2, True)
    missing = run_cli("flags", "kill", "nope", env=env)
    assert (missing.returncode, "no flag 'nope'" in missing.stderr) == (2, True)
    too_much = run_cli("flags", "rollout", "f", "120", env=env)
    assert too_much.returncode == 2  # click's own range check
    show = run_cli("flags", "show", "f", env=env)
    assert json.loads(show.stdout)["revision"] == 1
