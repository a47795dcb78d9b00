"""Every API error is JSON ``{"error": {"message", "field"}}`` with the right 4xx status."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from prodloop.errors import AuthError, ProdloopError

log = logging.getLogger("prodloop.api")


class ForbiddenError(ProdloopError):
    """The caller is known but may not do this (an ingest key asking to read)."""

    status_code = 403


class PayloadTooLargeError(ProdloopError):
    status_code = 413


class UnsupportedMediaTypeError(ProdloopError):
    status_code = 415


class RateLimitedError(ProdloopError):
    status_code = 429

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def error_headers(exc: ProdloopError) -> dict[str, str]:
    """Headers an error's status asks for (Retry-After, WWW-Authenticate)."""
    if isinstance(exc, RateLimitedError):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    if isinstance(exc, AuthError):
        return {"WWW-Authenticate": "Bearer"}
    return {}


def error_payload(message: str, field: str | None = None) -> dict[str, dict[str, str | None]]:
    return {"error": {"message": message, "field": field}}


def error_response(exc: ProdloopError) -> JSONResponse:
    return JSONResponse(
        error_payload(exc.message, exc.field),
        status_code=exc.status_code,
        headers=error_headers(exc),
    )


def _location(loc: tuple[int | str, ...]) -> str | None:
    # FastAPI prefixes where the value came from ("query", "body", "header").
    parts = list(loc[1:] if loc and loc[0] in ("query", "body", "path", "header") else loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


async def _prodloop_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProdloopError)
    return error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _location(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid request"))
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    return JSONResponse(error_payload(message, field), status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        error_payload(str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_payload("internal error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Map prodloop's errors, FastAPI's validation and Starlette's HTTP errors to JSON."""
    app.add_exception_handler(ProdloopError, _prodloop_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
