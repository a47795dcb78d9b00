"""Status page components must be services: the config says so with the line, and the
override and maintenance API and CLI refuse a name that is not a component."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from prodloop.cli.main import main
from prodloop.clock import ManualClock
from prodloop.config import parse_config
from prodloop.errors import ConfigError
from prodloop.store import connect
from prodloop.store.schema import component_overrides, maintenances
from tests.api.support import running_control_plane
from tests.web.statuspage_data import SERVICES_YAML, add_incident, add_update

NOW = 1_767_225_600.0
PAGE_YAML = SERVICES_YAML + (
    "statuspage:\n  url: https://status.example.com\n  components:\n    chat: {name: Chat API}\n"
)
TYPO_YAML = PAGE_YAML + "    serch: {name: Search}\n"


def prodloop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run the CLI's entry point in-process: its exit code, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["prodloop", *args])
    code = 0
    try:
        main()
    except SystemExit as exited:
        code = int(exited.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_config_names_an_unknown_component_and_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(TYPO_YAML, path="prodloop.yaml")
    error = raised.value
    assert error.field == "statuspage.components.serch"
    assert error.line == TYPO_YAML.splitlines().index("    serch: {name: Search}") + 1
    assert "unknown service 'serch'" in str(error)

    config = tmp_path / "prodloop.yaml"
    config.write_text(TYPO_YAML)
    code, _, stderr = prodloop(monkeypatch, capsys, "statuspage", "show", "--config", str(config))
    assert code == 2
    assert f"line {error.line}, field 'statuspage.components.serch'" in stderr


def test_api_refuses_unknown_components_and_names_them(tmp_path: Path) -> None:
    with (
        running_control_plane(
            tmp_path, control_yaml=PAGE_YAML, clock=ManualClock(NOW), start_pipeline=False
        ) as plane,
        plane.client() as http,
    ):
        # The component is checked before the body, so the answer names the real mistake.
        put = http.put("/api/v1/status/components/search", json={})
        lift = http.delete("/api/v1/status/components/search")
        window = http.post(
            "/api/v1/status/maintenances", json={"components": ["chat", "search"], "title": "t"}
        )
        not_set = http.delete("/api/v1/status/components/chat")
        summary = http.get("/status/api/v2/summary.json").json()
    for response, field in ((put, "component"), (lift, "component"), (window, "components")):
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["field"] == field
        assert error["message"] == "unknown component 'search' (choose from chat)"
    assert not_set.status_code == 404
    assert not_set.json()["error"]["message"] == "component 'chat' has no override"
    assert [c["id"] for c in summary["components"]] == ["chat"]
    assert summary["components"][0]["status"] == "operational"
    assert summary["scheduled_maintenances"] == []


def test_cli_refuses_unknown_components_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "prodloop.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n{PAGE_YAML}")
    where = ("--config", str(config))
    pinned = ("component", "search", "--state", "major_outage")
    lifted = ("component", "search", "--clear")
    window = (
        "maintenance", "--component", "chat", "--component", "search",
        "--start", "2099-01-01T00:00Z", "--end", "2099-01-01T01:00Z", "--title", "t",
    )  # fmt: skip
    for args, field in ((pinned, "SERVICE"), (lifted, "component"), (window, "--component")):
        code, _, stderr = prodloop(monkeypatch, capsys, "statuspage", *args, *where)
        assert code == 2, stderr
        assert f"{field}: unknown component 'search' (choose from chat)" in stderr
    engine = connect(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:  # nothing half-written
        for table in (component_overrides, maintenances):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
    # `show` lists each open incident with the address of its public page.
    incident = add_incident(engine, "chat", detected_at=time.time() - 60)
    add_update(engine, incident, time.time() - 30, "identified", "Rolling back.")
    engine.dispose()
    code, stdout, _ = prodloop(monkeypatch, capsys, "statuspage", "show", *where)
    assert code == 0
    assert (
        f"  incident {incident}: Partial outage of Chat API (identified) "
        f"https://status.example.com/incidents/{incident}\n"
    ) in stdout
