"""Routes of the control plane for public."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["public"])
