"""Keeps a gateway's traffic weights in step with the store's weights table.

A background task reads `service_versions` every `interval_s` in a worker thread (never
on a request's path) and applies what changed on the event loop: versions deployed at
run time are registered with their upstream and key, then the weights are swapped in
whole. A weight change only affects requests that start after it; requests in flight
finish on the version they were sent to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from sqlalchemy.engine import Engine

from prodloop.config import SecretRef, Version
from prodloop.gateway.app import GatewayApp
from prodloop.gateway.polling import StorePoller
from prodloop.gateway.routing import VersionTarget
from prodloop.releases.routing import VersionRoute, read_routes

POLL_INTERVAL_S = 0.25


def _version_config(route: VersionRoute, environ: Mapping[str, str]) -> Version:
    api_key = None
    if route.api_key_ref:
        name = route.api_key_ref.removeprefix("${").removesuffix("}")
        api_key = SecretRef(ref=route.api_key_ref, value=environ.get(name))
    return Version(upstream=route.upstream, api_key=api_key)


def apply_routes(
    app: GatewayApp,
    routes: Mapping[str, Sequence[VersionRoute]],
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Apply the store's routes to `app`; the services whose weights changed."""
    environ = os.environ if environ is None else environ
    changed: list[str] = []
    for service, versions in routes.items():
        target = app.directory.services.get(service)
        if target is None:
            continue  # a service this gateway's configuration does not front
        for route in versions:
            known = target.versions.get(route.version)
            if known is None or known.base_url != route.upstream.rstrip("/"):
                config = _version_config(route, environ)
                target.add_version(VersionTarget.build(service, route.version, config))
        weights = {route.version: route.weight for route in versions if route.weight > 0}
        if weights and weights != target.weights:
            app.set_weights(service, weights)
            changed.append(service)
    return changed


class WeightsPoller(StorePoller[dict[str, list[VersionRoute]], list[str]]):
    """Polls the weights table for one gateway app until stopped.

    `prime()` applies the table before serving, so a restarted gateway never routes by
    prodloop.yaml's weights while a rollout (or a rollback) says otherwise.
    """

    subject = "the weights table"
    kept = "weights"

    def __init__(self, engine: Engine, app: GatewayApp, interval_s: float = POLL_INTERVAL_S):
        super().__init__(engine, interval_s)
        self.app = app

    def read(self) -> dict[str, list[VersionRoute]]:
        return read_routes(self.engine)

    def apply(self, fresh: dict[str, list[VersionRoute]]) -> list[str]:
        """The services whose weights changed."""
        return apply_routes(self.app, fresh)
