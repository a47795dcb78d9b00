"""Routes of the control plane for faults."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["faults"])
