"""Routes of the control plane for feedback."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["feedback"])
