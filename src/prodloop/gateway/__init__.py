"""The data plane: a metering, guarded, routed OpenAI-compatible reverse proxy."""

from prodloop.gateway.app import GatewayApp, create_gateway_app
from prodloop.gateway.routing import choose_version

__all__ = ["GatewayApp", "choose_version", "create_gateway_app"]
