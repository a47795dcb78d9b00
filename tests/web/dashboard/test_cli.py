"""`prodloop users` and `prodloop tokens` through the command's entry point, in process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from prodloop.cli.main import main
from prodloop.store import connect
from prodloop.web.dashboard.tokens import token_user


class Prodloop:
    """Runs `prodloop …` as the console script does: exit code, stdout, stderr."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "argv", ["prodloop", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return code, out, err


def test_users_and_tokens_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "prodloop.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n")
    monkeypatch.setenv("PRODLOOP_CONFIG", str(config))
    monkeypatch.setenv("ADMIN_PASSWORD", "a long enough secret")
    monkeypatch.setenv("SHORT_PASSWORD", "short")
    prodloop = Prodloop(monkeypatch, capsys)

    added = prodloop("users", "add", "ada", "--role", "admin", "--password-env", "ADMIN_PASSWORD")
    assert added == (0, "added user ada (admin)\n", "")
    code, _, err = prodloop(
        "users", "add", "ada", "--role", "viewer", "--password-env", "ADMIN_PASSWORD"
    )
    assert code == 2 and "user 'ada' already exists" in err
    code, _, err = prodloop(
        "users", "add", "bob", "--role", "boss", "--password-env", "ADMIN_PASSWORD"
    )
    assert code == 2 and "'boss' is not one of" in err
    code, _, err = prodloop(
        "users", "add", "bob", "--role", "viewer", "--password-env", "SHORT_PASSWORD"
    )
    assert code == 2 and "--password-env: a password needs at least 10 characters" in err
    code, _, err = prodloop("users", "add", "bob", "--role", "viewer", "--password", "x")
    assert code == 2 and "No such option '--password'" in err  # never on the command line

    code, out, err = prodloop("tokens", "create", "--user", "ada", "--name", "ci")
    token = out.strip()
    assert code == 0 and token.startswith("plt_") and "not shown again" in err
    engine = connect(f"sqlite:///{tmp_path / 'p.db'}")
    user = token_user(engine, token, now=0.0)
    assert user is not None and (user.name, user.role) == ("ada", "admin")

    code, out, _ = prodloop("tokens", "list", "--json")
    rows = json.loads(out)
    assert [(r["user"], r["name"], r["prefix"]) for r in rows] == [("ada", "ci", token[:12])]
    assert token not in out
    code, out, _ = prodloop("tokens", "revoke", str(rows[0]["id"]))
    assert code == 0 and out.startswith("revoked token")
    assert token_user(engine, token, now=0.0) is None

    assert prodloop("users", "set-role", "ada", "operator")[1] == "ada is now operator\n"
    code, out, _ = prodloop("users", "list", "--json")
    assert [(u["name"], u["role"]) for u in json.loads(out)] == [("ada", "operator")]
    assert prodloop("users", "remove", "ada")[0] == 0
    code, _, err = prodloop("users", "remove", "ada")
    assert code == 2 and "no user named 'ada'" in err
    engine.dispose()
