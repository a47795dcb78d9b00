"""Runtime fault rules: a gateway with `faults.enabled` takes them from the store through
its poller; one with faults disabled (production) never does."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from prodloop.config import Config, FaultRule, Faults, parse_config
from prodloop.gateway.faults import FaultInjector
from prodloop.gateway.runtime_faults import read_fault_rules, replace_fault_rules
from prodloop.server import build_runtime, make_processes, serve
from prodloop.store import connect
from tests.gateway.conftest import Upstream
from tests.support import free_port

KEY = "gw-drill-test-key"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _config(store_url: str, upstream: str, port: int, *, is_enabled: bool) -> Config:
    text = f"""
store: {{url: "{store_url}"}}
gateway: {{host: 127.0.0.1, port: {port}}}
services:
  chat:
    stable: v1
    keys: ["${{T_KEY}}"]
    versions:
      v1: {{upstream: "{upstream}/v1"}}
faults: {{enabled: {"true" if is_enabled else "false"}}}
"""
    return parse_config(text, environ={"T_KEY": KEY})


@contextmanager
def _gateway(config: Config) -> Iterator[str]:
    """A real prodloop gateway process (the same assembly as `prodloop up --gateway-only`)."""
    runtime = build_runtime(config)
    processes = make_processes(runtime, gateway=True, control=False)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(serve(runtime, processes, run_loop=False),)
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not processes.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the gateway did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.gateway.port}"
    finally:
        loop.call_soon_threadsafe(processes.request_stop)
        thread.join(15)
        loop.close()


def _status(url: str) -> int:
    headers = {"authorization": f"Bearer {KEY}"}
    return httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers).status_code


def test_only_a_gateway_with_faults_enabled_takes_runtime_rules(
    tmp_path: Path, upstream: Upstream
) -> None:
    store_url = f"sqlite:///{tmp_path / 'prodloop.db'}"
    connect(store_url).dispose()  # migrated once, before the two gateways open it
    staging = _config(store_url, upstream.url, free_port(), is_enabled=True)
    production = _config(store_url, upstream.url, free_port(), is_enabled=False)
    with _gateway(staging) as staging_url, _gateway(production) as production_url:
        assert _status(staging_url) == 200 and _status(production_url) == 200
        engine = connect(store_url, migrate=False)
        try:
            rule = FaultRule(service="chat", error_rate=1.0, error_status=502)
            replace_fault_rules(engine, [rule], by="test", now=time.time())
            deadline = time.monotonic() + 5
            while _status(staging_url) != 502:
                assert time.monotonic() < deadline, "the staging gateway never took the rule"
                time.sleep(0.05)
            put_at = time.monotonic()
            while time.monotonic() - put_at < 0.6:  # over two poll intervals
                assert _status(production_url) == 200
                time.sleep(0.05)
            replace_fault_rules(engine, [], by="test", now=time.time())
            deadline = time.monotonic() + 5
            while _status(staging_url) != 200:
                assert time.monotonic() < deadline, "the staging gateway kept the fault"
                time.sleep(0.05)
            assert read_fault_rules(engine) == []
        finally:
            engine.dispose()


def test_runtime_rules_win_over_the_config_and_are_ignored_when_disabled() -> None:
    config_rule = FaultRule(service="chat", latency_ms=100.0)
    runtime_rule = FaultRule(service="chat", error_rate=1.0)
    injector = FaultInjector(Faults(enabled=True, rules=[config_rule]))
    assert injector.plan_for("chat", "v1").latency_s == 0.1  # type: ignore[union-attr]
    assert injector.set_runtime_rules([runtime_rule])
    assert not injector.set_runtime_rules([runtime_rule])  # unchanged
    plan = injector.plan_for("chat", "v1")
    assert plan is not None and (plan.error_rate, plan.latency_s) == (1.0, 0.0)
    assert injector.set_runtime_rules([])
    assert injector.plan_for("chat", "v1").latency_s == 0.1  # type: ignore[union-attr]

    disabled = FaultInjector(Faults(enabled=False, rules=[config_rule]))
    assert not disabled.set_runtime_rules([runtime_rule])
    assert disabled.plan_for("chat", "v1") is None and not disabled
