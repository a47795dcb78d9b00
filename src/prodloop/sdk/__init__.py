"""The Python SDK: `prodloop.track` and `prodloop.configure` live in `prodloop.sdk.track`;
`feedback` and `capture` (what users say and do) in `prodloop.sdk.product`."""

from __future__ import annotations

from prodloop.sdk.product import capture, feedback

__all__ = ["capture", "feedback"]
