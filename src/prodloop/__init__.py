"""prodloop: the production loop of an LLM application in one self-hosted service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prodloop.sdk.track import configure, current_call, flush, track

__version__ = "0.1.0"

__all__ = ["__version__", "configure", "current_call", "flush", "track"]


def __getattr__(name: str) -> Any:
    # The SDK is imported on first use so the gateway and CLI do not pay for it.
    if name in ("track", "configure", "flush", "current_call"):
        from prodloop.sdk import track as sdk

        return getattr(sdk, name)
    raise AttributeError(name)
