"""/account: a user's own API tokens. A new token is shown once, then only its prefix."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from prodloop.errors import ProdloopError
from prodloop.web.dashboard.auth import Control, CurrentUser
from prodloop.web.dashboard.csrf import verify_csrf
from prodloop.web.dashboard.templating import NavItem, register_nav, render
from prodloop.web.dashboard.tokens import create_token, list_tokens, revoke_token

router = APIRouter(include_in_schema=False)
register_nav(NavItem("API tokens", "/account", order=90))


def _page(
    request: Request,
    control: Control,
    user_name: str,
    *,
    status_code: int = 200,
    new_token: str = "",
    errors: dict[str, str] | None = None,
    label: str = "",
    message: str = "",
) -> Response:
    return render(
        request,
        "account.html",
        {
            "tokens": list_tokens(control.engine, user_name=user_name),
            "new_token": new_token,
            "errors": errors or {},
            "label": label,
            "message": message,
        },
        status_code=status_code,
    )


@router.get("/account")
def account(request: Request, user: CurrentUser, control: Control) -> Response:
    return _page(request, control, user.name)


@router.post("/account/tokens", dependencies=[Depends(verify_csrf)])
async def post_token(request: Request, user: CurrentUser, control: Control) -> Response:
    form = await request.form()
    label = str(form.get("name") or "").strip()
    if not label or len(label) > 128:
        errors = {"name": "Name the token (1-128 characters), e.g. where it will be used."}
        return _page(request, control, user.name, status_code=422, errors=errors, label=label)
    token, _info = create_token(control.engine, user.name, label=label, now=control.clock.now())
    return _page(request, control, user.name, status_code=201, new_token=token)


@router.post("/account/tokens/{token_id}/revoke", dependencies=[Depends(verify_csrf)])
def post_revoke(
    request: Request,
    user: CurrentUser,
    control: Control,
    token_id: Annotated[int, Path(ge=1)],
) -> Response:
    try:
        revoke_token(control.engine, token_id, now=control.clock.now(), user_name=user.name)
    except ProdloopError as exc:
        return _page(request, control, user.name, status_code=exc.status_code, message=exc.message)
    return RedirectResponse("/account", status_code=303)
