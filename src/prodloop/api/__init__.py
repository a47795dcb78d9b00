"""The control-plane REST API (FastAPI, OpenAPI at /docs)."""

from prodloop.api.app import create_control_app

__all__ = ["create_control_app"]
