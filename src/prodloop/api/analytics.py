"""Routes of the control plane for analytics."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["analytics"])
