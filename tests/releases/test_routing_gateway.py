"""The gateway follows the store's weights table: new versions, weights, a failing poll."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prodloop.config import parse_config
from prodloop.gateway.app import GatewayApp
from prodloop.gateway.weights import WeightsPoller, apply_routes
from prodloop.releases.deployments import DeployRequest, register_deployment
from prodloop.releases.routing import VersionRoute, read_routes
from prodloop.store import connect
from prodloop.telemetry.events import RequestEvent
from tests.releases.support import START, no_probe

CONFIG = """
store:
  url: sqlite:///{path}
services:
  chat:
    stable: v1
    versions:
      v1: {{upstream: "http://127.0.0.1:9/v1"}}
"""


class _Sink:
    def submit(self, event: RequestEvent) -> bool:
        return True


def _route(version: str, weight: float, upstream: str = "http://127.0.0.1:10/v1") -> VersionRoute:
    role = "stable" if weight >= 50 else "canary"
    return VersionRoute("chat", version, upstream, "${V2_KEY}", weight, role)


def _app(tmp_path: Path) -> GatewayApp:
    config = parse_config(CONFIG.format(path=tmp_path / "s.db"), environ={})
    return GatewayApp(config, _Sink())


def test_apply_routes_registers_new_versions_with_their_key(tmp_path: Path) -> None:
    app = _app(tmp_path)
    routes = {"chat": [_route("v1", 90.0, "http://127.0.0.1:9/v1"), _route("v2", 10.0)],
              "other": [_route("x", 100.0)]}  # fmt: skip
    assert apply_routes(app, routes, environ={"V2_KEY": "sk-v2"}) == ["chat"]
    target = app.directory.services["chat"]
    assert target.weights == {"v1": 90.0, "v2": 10.0}
    v2 = target.versions["v2"]
    assert v2.base_url == "http://127.0.0.1:10/v1"
    assert ("Authorization", "Bearer sk-v2") in v2.headers
    assert apply_routes(app, routes, environ={}) == []  # nothing changed, nothing applied
    # a version whose weight drops to 0 takes no new requests
    apply_routes(app, {"chat": [_route("v1", 100.0), _route("v2", 0.0)]}, environ={})
    assert target.weights == {"v1": 100.0}


def test_the_poller_applies_a_deploy_from_the_store(tmp_path: Path) -> None:
    app = _app(tmp_path)
    engine = connect(app.config.store.url)
    try:
        request = DeployRequest("chat", "v2", "http://127.0.0.1:10/v1", "ana", steps=[20, 100])
        register_deployment(engine, app.config, request, START, probe=no_probe)
        poller = WeightsPoller(engine, app, interval_s=0.01)
        assert asyncio.run(poller.poll_once()) == ["chat"]
        restarted = _app(tmp_path)  # a gateway starting mid-rollout routes by the store at once
        WeightsPoller(engine, restarted).prime()
        assert restarted.directory.services["chat"].weights == {"v1": 80.0, "v2": 20.0}
        assert app.directory.services["chat"].weights == {"v1": 80.0, "v2": 20.0}
        assert {r.version for r in read_routes(engine)["chat"]} == {"v1", "v2"}

        async def run_briefly() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run(stop))
            await asyncio.sleep(0.05)
            stop.set()
            await task

        engine.dispose()
        broken = WeightsPoller(connect(f"sqlite:///{tmp_path / 'missing' / 'x.db'}", migrate=False),
                               app, interval_s=0.01)  # fmt: skip
        asyncio.run(run_briefly())
        assert poller.polls > 1
        stop_broken = asyncio.Event()

        async def broken_briefly() -> None:
            task = asyncio.create_task(broken.run(stop_broken))
            await asyncio.sleep(0.05)
            stop_broken.set()
            await task

        asyncio.run(broken_briefly())
        assert broken.errors >= 1  # counted, and the last weights stay in force
        assert app.directory.services["chat"].weights == {"v1": 80.0, "v2": 20.0}
    finally:
        engine.dispose()
