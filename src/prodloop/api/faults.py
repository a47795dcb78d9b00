"""Runtime fault rules over HTTP: /api/v1/faults, for drills against a staging prodloop.

Every route needs an API token (an ingest key gets 403). PUT replaces the whole list with
rules in the config's `faults.rules` shape; DELETE turns every runtime fault off. Only
gateways whose config has `faults.enabled: true` apply them (see
`prodloop.gateway.runtime_faults`), so a production gateway ignores what is stored here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from prodloop.api.auth import Principal, require_reader
from prodloop.api.state import get_state
from prodloop.gateway.runtime_faults import (
    parse_fault_rules,
    read_fault_rules,
    replace_fault_rules,
)

router = APIRouter(tags=["faults"])

Reader = Annotated[Principal, Depends(require_reader)]


def _answer(request: Request, rules: list[Any]) -> dict[str, Any]:
    config = get_state(request).config
    return {
        "rules": [rule.model_dump() for rule in rules],
        # Whether this prodloop's own gateway applies them; others follow their own config.
        "gateway_faults_enabled": config.faults.enabled,
    }


@router.get("/api/v1/faults", summary="The runtime fault rules")
def get_faults(request: Request, _principal: Reader) -> dict[str, Any]:
    """The rules put at run time (the config's own `faults.rules` are not listed)."""
    return _answer(request, read_fault_rules(get_state(request).engine))


@router.put("/api/v1/faults", summary="Replace the runtime fault rules")
def put_faults(
    request: Request,
    principal: Reader,
    body: Annotated[Any, Body(description="a list of rules in the config's FaultRule shape")],
) -> dict[str, Any]:
    """Replace every runtime rule; a bad rule is refused with 422 naming its field."""
    state = get_state(request)
    rules = parse_fault_rules(body)
    stored = replace_fault_rules(state.engine, rules, by=principal.name, now=state.clock.now())
    return _answer(request, stored)


@router.delete("/api/v1/faults", summary="Turn every runtime fault off")
def delete_faults(request: Request, principal: Reader) -> dict[str, Any]:
    state = get_state(request)
    return _answer(
        request, replace_fault_rules(state.engine, [], by=principal.name, now=state.clock.now())
    )
