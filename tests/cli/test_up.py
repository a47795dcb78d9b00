"""`prodloop up` as a user runs it: a real process, the real openai SDK, Ctrl-C."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import func, select

from prodloop.store import connect
from prodloop.store.engine import head_revision
from prodloop.store.schema import request_events
from tests.cli.conftest import Started, run_cli
from tests.support import free_port

ENV = {
    "GW_KEY": "gw-test-key",
    "UP_KEY": "sk-upstream",
    "API_TOKEN": "api-token",
    "INGEST": "ingest-key",
}


def write_config(
    tmp_path: Path, upstream: str, *, flush_interval_s: float = 0.2
) -> tuple[Path, int, int]:
    gateway_port, control_port = free_port(), free_port()
    path = tmp_path / "prodloop.yaml"
    path.write_text(
        f"""
store:
  url: sqlite:///{tmp_path / "store.db"}
gateway:
  port: {gateway_port}
  default_service: chat
control:
  port: {control_port}
  api_tokens: ["${{API_TOKEN}}"]
  ingest_keys: ["${{INGEST}}"]
  tick_interval_s: 1
telemetry:
  flush_interval_s: {flush_interval_s}
services:
  chat:
    stable: v1
    keys: ["${{GW_KEY}}"]
    versions:
      v1:
        upstream: {upstream}
        api_key: ${{UP_KEY}}
"""
    )
    return path, gateway_port, control_port


def count_events(tmp_path: Path) -> int:
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(request_events)).scalar_one())


def slis(control_port: int, **params: str) -> dict:
    response = httpx.get(
        f"http://127.0.0.1:{control_port}/api/v1/slis",
        params=params,
        headers={"Authorization": f"Bearer {ENV['API_TOKEN']}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_up_serves_the_openai_sdk_and_flushes_on_ctrl_c(
    tmp_path: Path, fake_upstream: str, start_cli: Callable[..., Started]
) -> None:
    # A flush interval longer than the test: only the graceful stop can write the events.
    config, gateway_port, control_port = write_config(tmp_path, fake_upstream, flush_interval_s=600)
    up = start_cli("up", "--config", str(config), env=ENV, ports=(gateway_port, control_port))

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{gateway_port}/v1", api_key=ENV["GW_KEY"])
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
    )
    assert answer.choices[0].message.content
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert len(chunks) > 1
    assert all(chunk.usage is None for chunk in chunks)  # the usage chunk was not asked for
    embedding = client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert len(embedding.data[0].embedding) > 0
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"http://127.0.0.1:{gateway_port}/v1", api_key="wrong").models.list()

    assert count_events(tmp_path) == 0
    code, out, err = up.interrupt()
    assert code == 0, err
    assert "4 events written, 0 dropped" in out
    assert count_events(tmp_path) == 4


def test_split_planes_share_one_store(
    tmp_path: Path, fake_upstream: str, start_cli: Callable[..., Started]
) -> None:
    config, gateway_port, control_port = write_config(tmp_path, fake_upstream)
    gateway = start_cli(
        "up", "--gateway-only", "--config", str(config), env=ENV, ports=(gateway_port,)
    )
    control = start_cli(
        "up", "--control-only", "--config", str(config), env=ENV, ports=(control_port,)
    )
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{gateway_port}/v1", api_key=ENV["GW_KEY"])
    for _ in range(5):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    deadline = time.monotonic() + 20
    rows = slis(control_port, service="chat", since="1h")["rows"]
    while rows[0]["requests"] < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = slis(control_port, service="chat", since="1h")["rows"]
    assert rows[0]["requests"] == 5
    assert rows[0]["errors"] == 0
    assert rows[0]["input_tokens"] > 0
    assert gateway.interrupt()[0] == 0
    assert control.interrupt()[0] == 0

    stats = run_cli("stats", "--config", str(config), "--since", "1h", env=ENV)
    assert stats.returncode == 0, stats.stderr
    line = next(row for row in stats.stdout.splitlines() if row.startswith("chat"))
    assert line.split()[:3] == ["chat", "v1", "5"]


def test_up_refuses_a_bad_config_naming_field_and_line(tmp_path: Path) -> None:
    path = tmp_path / "prodloop.yaml"
    path.write_text("gateway:\n  port: 8080\ncontrol:\n  port: 70000\n")
    result = run_cli("up", "--config", str(path))
    assert result.returncode == 2
    assert "line 4" in result.stderr and "control.port" in result.stderr


def test_up_refuses_when_a_secret_is_not_in_the_environment(
    tmp_path: Path, fake_upstream: str
) -> None:
    config, _, _ = write_config(tmp_path, fake_upstream)
    result = run_cli("up", "--config", str(config), env=ENV, unset=("UP_KEY",))
    assert result.returncode == 2
    assert "services.chat.versions.v1.api_key (${UP_KEY})" in result.stderr


def test_init_writes_a_valid_config_once(tmp_path: Path) -> None:
    first = run_cli("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    text = (tmp_path / "prodloop.yaml").read_text()
    assert "threshold_ms: 2000" in text and "above: 2500" in text
    second = run_cli("init", cwd=tmp_path)
    assert second.returncode == 2
    assert "exists already" in second.stderr
    db = run_cli("db", "upgrade", cwd=tmp_path)
    assert db.returncode == 0, db.stderr
    assert f"upgraded from empty to {head_revision()}" in db.stdout


def test_up_names_the_setting_of_a_port_already_taken(tmp_path: Path, fake_upstream: str) -> None:
    config, gateway_port, _ = write_config(tmp_path, fake_upstream)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", gateway_port))
        taken.listen()
        result = run_cli("up", "--config", str(config), env=ENV)
    assert result.returncode == 2
    assert f"gateway.port: cannot listen on 127.0.0.1:{gateway_port}" in result.stderr
    assert "Traceback" not in result.stderr
