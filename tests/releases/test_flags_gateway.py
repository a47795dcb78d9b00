"""The gateway evaluates configured flags per request and tells the upstream in a header."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prodloop.clock import ManualClock
from prodloop.demo.upstream import PROFILES, create_upstream_app
from prodloop.gateway import create_gateway_app
from prodloop.gateway.flags import FlagsPoller
from prodloop.releases.flags import flag_from_dict
from prodloop.releases.flags.store import create_flag, kill_flag
from prodloop.store import connect
from tests.gateway.conftest import GLOBAL_KEY, Upstream, gateway_config
from tests.gateway.servers import RecordingSink, serve
from tests.support import free_port

T0 = 1_767_225_600.0


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    app = create_upstream_app(PROFILES["fast"])
    with serve(app) as url:
        yield Upstream(url, app)


def echoed_headers(url: str, **headers: str) -> dict[str, str]:
    response = httpx.post(
        f"{url}/v1/_echo",
        json={"model": "gpt-4o-mini"},
        headers={"authorization": f"Bearer {GLOBAL_KEY}", **headers},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    raw: Any = response.json()["headers"]
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {str(k).lower(): str(v) for k, v in pairs}


def test_the_upstream_receives_the_evaluated_flags(tmp_path: Path, upstream: Upstream) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'prodloop.db'}")
    create_flag(
        engine,
        flag_from_dict(
            {
                "key": "new-prompt",
                "enabled": True,
                "default_variant": "off",
                "rules": [
                    {
                        "attribute": "targetingKey",
                        "operator": "equals",
                        "value": "ann",
                        "variant": "on",
                    }
                ],
            }
        ),
        by="t",
        now=T0,
    )
    create_flag(
        engine,
        flag_from_dict(
            {
                "key": "by-model",
                "kind": "multivariate",
                "enabled": True,
                "variants": {"small": 1, "large": 2},
                "rules": [
                    {
                        "attribute": "model",
                        "operator": "regex",
                        "value": "mini$",
                        "variant": "small",
                    }
                ],
                "default_variant": "large",
            }
        ),
        by="t",
        now=T0,
    )
    config = gateway_config(
        upstream, upstream, gateway={"flags": ["new-prompt", "by-model", "not-created-yet"]}
    )
    sink = RecordingSink()
    app = create_gateway_app(config, sink, clock=ManualClock())
    assert app.flags is not None
    poller = FlagsPoller(engine, app.flags)
    poller.prime()  # what `prodloop up` does before the gateway serves
    assert set(app.flags.flagset.flags) == {"new-prompt", "by-model"}
    assert asyncio.run(poller.poll_once()) is False  # unchanged ETag: nothing reloaded

    with serve(app) as url:
        ann = echoed_headers(url, **{"x-prodloop-user": "ann", "x-prodloop-flags": "forged=1"})
        assert ann["x-prodloop-flags"] == "new-prompt=on;by-model=small"
        # The request's event keeps the flags it was served with (feedback and funnels
        # break down by them).
        assert sink.last().flags == "new-prompt=on;by-model=small"
        bob = echoed_headers(url, **{"x-prodloop-user": "bob"})
        assert bob["x-prodloop-flags"] == "new-prompt=off;by-model=small"

        kill_flag(engine, "new-prompt", by="t", now=T0 + 1)
        assert asyncio.run(poller.poll_once()) is True
        ann = echoed_headers(url, **{"x-prodloop-user": "ann"})
        assert ann["x-prodloop-flags"] == "new-prompt=off;by-model=small"
    engine.dispose()


def test_no_flags_configured_adds_no_header(upstream: Upstream) -> None:
    app = create_gateway_app(gateway_config(upstream, upstream), RecordingSink())
    assert app.flags is None
    with serve(app) as url:
        headers = echoed_headers(url, **{"x-prodloop-flags": "client=1"})
    assert headers["x-prodloop-flags"] == "client=1"  # not ours to touch when off


def test_prodloop_up_polls_flags_only_when_some_are_configured(
    tmp_path: Path, upstream: Upstream
) -> None:
    from prodloop.server import build_runtime, make_processes

    for flags, expected in (([], False), (["new-prompt"], True)):
        config = gateway_config(
            upstream,
            upstream,
            gateway={"flags": flags, "port": free_port()},
            store={"url": f"sqlite:///{tmp_path / 'prodloop.db'}"},
        )
        runtime = build_runtime(config)
        processes = make_processes(runtime, control=False)
        try:
            pollers = [task.__self__ for task in processes.background]  # type: ignore[attr-defined]
            assert any(isinstance(p, FlagsPoller) for p in pollers) is expected
        finally:
            for sock in processes.sockets:
                sock.close()
            runtime.pipeline.stop(5)
            runtime.engine.dispose()
