"""Feature flags over HTTP: /api/v1/flags (CRUD, kill, audit, the local clients' config)
and the OpenFeature Remote Evaluation Protocol under /ofrep/v1.

Every route needs an API token, reads included: a flag's rules can name users and
segments, so an ingest key (write-only, shipped in apps) gets 403. The audit log
records the token's config entry as the author, or the ``X-Prodloop-Actor`` header's
name beside it when a client sends one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Request
from fastapi.responses import JSONResponse, Response

from prodloop.api.auth import Principal, require_reader
from prodloop.api.caching import etag_matches
from prodloop.api.state import get_state
from prodloop.errors import NotFoundError, ValidationError
from prodloop.releases.flags.evaluate import Evaluation, evaluate
from prodloop.releases.flags.model import Flag, flag_from_dict
from prodloop.releases.flags.store import (
    config_etag,
    create_flag,
    flag_audit_log,
    flag_config,
    get_flag,
    kill_flag,
    list_flags,
    set_rollout,
    update_flag,
)

router = APIRouter(tags=["flags"])

Reader = Annotated[Principal, Depends(require_reader)]
FlagKey = Annotated[str, Path(min_length=1, max_length=128, description="the flag's key")]
Actor = Annotated[
    str | None,
    Header(alias="x-prodloop-actor", max_length=128, description="who makes the change"),
]
MUTABLE = (
    "description",
    "variants",
    "default_variant",
    "off_variant",
    "enabled",
    "rules",
    "rollout",
    "sticky_attribute",
)


def _who(principal: Principal, actor: str | None) -> str:
    return f"{actor} ({principal.name})" if actor else principal.name


@router.get("/api/v1/flags", summary="Every flag")
def get_flags(request: Request, _principal: Reader) -> dict[str, Any]:
    """Every live flag, by key."""
    return {"flags": [flag.to_dict() for flag in list_flags(get_state(request).engine)]}


@router.get("/api/v1/flags/config", summary="The whole flag config, for local clients")
def get_flag_config(
    request: Request,
    _principal: Reader,
    if_none_match: Annotated[str | None, Header(alias="if-none-match")] = None,
) -> Response:
    """Every flag with an ETag; 304 when If-None-Match already names it."""
    engine = get_state(request).engine
    if etag_matches(if_none_match, config_etag(engine)):
        return Response(status_code=304, headers={"ETag": config_etag(engine)})
    config = flag_config(engine)
    return JSONResponse(config.to_dict(), headers={"ETag": config.etag})


@router.get("/api/v1/flags/{key}", summary="One flag")
def get_one_flag(request: Request, _principal: Reader, key: FlagKey) -> dict[str, Any]:
    return get_flag(get_state(request).engine, key).to_dict()


@router.post("/api/v1/flags", status_code=201, summary="Create a flag")
def post_flag(
    request: Request,
    principal: Reader,
    body: Annotated[dict[str, Any], Body(description="the flag's JSON form")],
    actor: Actor = None,
) -> dict[str, Any]:
    """Create a flag; a rule that cannot compile is refused with 422 naming the field."""
    state = get_state(request)
    for name in ("revision", "created_at", "updated_at", "updated_by"):
        if name in body:
            raise ValidationError("is set by the server", field=name)
    flag = flag_from_dict(body)
    stored = create_flag(state.engine, flag, by=_who(principal, actor), now=state.clock.now())
    return stored.to_dict()


def _change(request: Request, key: str, changes: dict[str, Any], by: str) -> Flag:
    state = get_state(request)
    return update_flag(state.engine, key, changes, by=by, now=state.clock.now())


@router.patch("/api/v1/flags/{key}", summary="Change some fields of a flag")
def patch_flag(
    request: Request,
    principal: Reader,
    key: FlagKey,
    body: Annotated[dict[str, Any], Body(description="the fields to change")],
    actor: Actor = None,
) -> dict[str, Any]:
    """Set rules, rollout, variants, enabled …; fields not given keep their value."""
    for name in body:
        if name not in MUTABLE:
            raise ValidationError(f"cannot be changed (use {', '.join(MUTABLE)})", field=name)
    return _change(request, key, body, _who(principal, actor)).to_dict()


@router.put("/api/v1/flags/{key}", summary="Replace a flag's definition")
def put_flag(
    request: Request,
    principal: Reader,
    key: FlagKey,
    body: Annotated[dict[str, Any], Body(description="the flag's JSON form")],
    actor: Actor = None,
) -> dict[str, Any]:
    """Replace every changeable field; fields not given take their defaults."""
    current = get_flag(get_state(request).engine, key)
    if body.get("key", key) != key:
        raise ValidationError("does not match the URL", field="key")
    if body.get("kind", current.kind) != current.kind:
        raise ValidationError("cannot be changed; create a new flag", field="kind")
    extra = [name for name in body if name not in (*MUTABLE, "key", "kind")]
    if extra:
        raise ValidationError(f"cannot be set (use {', '.join(MUTABLE)})", field=extra[0])
    document = {name: body[name] for name in MUTABLE if name in body}
    replacement = flag_from_dict({**document, "kind": current.kind}, key=key).to_dict()
    changes = {name: replacement[name] for name in MUTABLE}
    return _change(request, key, changes, _who(principal, actor)).to_dict()


@router.post("/api/v1/flags/{key}/kill", summary="Kill a flag")
def post_kill(
    request: Request, principal: Reader, key: FlagKey, actor: Actor = None
) -> dict[str, Any]:
    """Turn the flag off at once: everyone gets its off variant."""
    state = get_state(request)
    return kill_flag(state.engine, key, by=_who(principal, actor), now=state.clock.now()).to_dict()


@router.post("/api/v1/flags/{key}/rollout", summary="Roll a variant out to a percentage")
def post_rollout(
    request: Request,
    principal: Reader,
    key: FlagKey,
    body: Annotated[dict[str, Any], Body(examples=[{"percent": 100}])],
    actor: Actor = None,
) -> dict[str, Any]:
    """``{"percent": 25, "variant": "on", "sticky_attribute": "targetingKey"}``; turns the
    flag on."""
    percent = body.get("percent")
    if isinstance(percent, bool) or not isinstance(percent, int | float):
        raise ValidationError("must be a number between 0 and 100", field="percent")
    variant, sticky = body.get("variant"), body.get("sticky_attribute")
    if variant is not None and not isinstance(variant, str):
        raise ValidationError("must be a variant name", field="variant")
    if sticky is not None and not isinstance(sticky, str):
        raise ValidationError("must be an attribute name", field="sticky_attribute")
    state = get_state(request)
    flag = set_rollout(
        state.engine,
        key,
        float(percent),
        by=_who(principal, actor),
        now=state.clock.now(),
        variant=variant,
        sticky_attribute=sticky,
    )
    return flag.to_dict()


@router.get("/api/v1/flags/{key}/audit", summary="A flag's change log")
def get_audit(request: Request, _principal: Reader, key: FlagKey) -> dict[str, Any]:
    """Every change of the flag, newest first: who, when, the action, before and after."""
    engine = get_state(request).engine
    get_flag(engine, key)
    return {"entries": [entry.to_dict() for entry in flag_audit_log(engine, key)]}


# OpenFeature Remote Evaluation Protocol (OFREP) v1.


def _ofrep_error(status: int, code: str, details: str, *, key: str | None = None) -> JSONResponse:
    payload: dict[str, Any] = {"errorCode": code, "errorDetails": details}
    if key is not None:
        payload = {"key": key, **payload}
    return JSONResponse(payload, status_code=status)


async def _ofrep_context(request: Request) -> dict[str, Any] | tuple[str, str]:
    """The request's context, or (errorCode, errorDetails) for a 400."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        return "PARSE_ERROR", f"the body is not JSON: {exc}"
    if not isinstance(body, dict):
        return "INVALID_CONTEXT", "the body must be an object"
    context = body.get("context", {})
    if context is None:
        return {}
    if not isinstance(context, dict):
        return "INVALID_CONTEXT", "context must be an object"
    return context


def _ofrep_result(flag: Flag, result: Evaluation) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "key": flag.key,
        "value": result.value,
        "reason": result.reason,
        "metadata": {"revision": flag.revision},
    }
    if result.variant is not None:
        payload["variant"] = result.variant
    return payload


@router.post("/ofrep/v1/evaluate/flags/{key}", tags=["ofrep"], summary="OFREP: one flag")
async def ofrep_evaluate_flag(request: Request, _principal: Reader, key: FlagKey) -> Response:
    """Evaluate one flag for ``{"context": {…}}``: 200, 400 (bad context) or 404."""
    context = await _ofrep_context(request)
    if isinstance(context, tuple):
        return _ofrep_error(400, *context, key=key)
    try:
        flag = get_flag(get_state(request).engine, key)
    except NotFoundError:
        return _ofrep_error(404, "FLAG_NOT_FOUND", f"no flag '{key}'", key=key)
    return JSONResponse(_ofrep_result(flag, evaluate(flag, context)))


@router.post("/ofrep/v1/evaluate/flags", tags=["ofrep"], summary="OFREP: every flag")
async def ofrep_evaluate_flags(
    request: Request,
    _principal: Reader,
    if_none_match: Annotated[str | None, Header(alias="if-none-match")] = None,
) -> Response:
    """Evaluate every flag for ``{"context": {…}}``; the ETag covers the config and the
    context, so an unchanged pair is a 304."""
    context = await _ofrep_context(request)
    if isinstance(context, tuple):
        return _ofrep_error(400, *context)
    config = flag_config(get_state(request).engine)
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), default=str)
    etag = '"' + hashlib.sha256(f"{config.etag}\n{canonical}".encode()).hexdigest()[:32] + '"'
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    results = [_ofrep_result(flag, evaluate(flag, context)) for flag in config.flags]
    return JSONResponse({"flags": results, "metadata": {}}, headers={"ETag": etag})
