"""The feedback widget served at /widget.js."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["widget"])
