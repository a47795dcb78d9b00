"""The flags pages: every flag, and one flag with its rules, percentage rollout, kill switch
and audit history. Admins edit through a form that builds the dict the API's PUT takes,
validated by the same code (`update_flag`), with each error beside its field."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from prodloop.api.flags import MUTABLE
from prodloop.errors import NotFoundError, ProdloopError, ValidationError
from prodloop.releases.flags.model import Flag, Split
from prodloop.releases.flags.operators import OPERATORS
from prodloop.releases.flags.store import (
    AuditEntry,
    flag_audit_log,
    get_flag,
    kill_flag,
    list_flags,
    update_flag,
)
from prodloop.web.dashboard.auth import Control, CurrentUser, require_role
from prodloop.web.dashboard.csrf import verify_csrf
from prodloop.web.dashboard.service import action_result
from prodloop.web.dashboard.templating import NavItem, register_nav, render
from prodloop.web.dashboard.users import User

router = APIRouter(include_in_schema=False)
register_nav(NavItem("Flags", "/flags", order=12))

FlagKey = Annotated[str, Path(min_length=1, max_length=128)]
Admin = Annotated[User, Depends(require_role("admin"))]
BLANK_RULE_ROWS = 2  # empty rows under a flag's rules, for adding some without script
# Fields every change sets, left out of "what changed".
_BOOKKEEPING = frozenset({"revision", "updated_at", "updated_by", "created_at"})
DONE = {
    "saved": "Saved.",
    "killed": "Killed: everyone now gets the off variant.",
}


def split_text(split: Split) -> str:
    """A split as the form and the list write it: ``on:25,off:75``."""
    return ",".join(f"{name}:{percent:g}" for name, percent in split.weights)


def rollout_summary(flag: Flag) -> str:
    if flag.rollout is None:
        return "–"
    return " · ".join(f"{name} {percent:g}%" for name, percent in flag.rollout.weights)


def value_text(value: Any) -> str:
    """A rule's value as typed in the form: plain text for a string that is not JSON
    itself, JSON otherwise (so it reads back as the same value)."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
    return json.dumps(value)


def parse_value(text: str, operator: str) -> Any:
    """The value typed in the form: JSON when it parses, else text; ``in`` and ``not_in``
    take a bare comma list too (``DE,FR``)."""
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    if operator in ("in", "not_in") and isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    return value


def parse_target(text: str, where: str) -> dict[str, Any]:
    """``{"variant": …}`` from a variant name, ``{"split": …}`` from ``on:20,off:80``."""
    if ":" not in text:
        return {"variant": text}
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, _, percent = part.partition(":")
        try:
            weights[name.strip()] = float(percent)
        except ValueError as exc:
            raise ValidationError(
                f"not a percentage: {part.strip()!r} (write on:20,off:80)", field=f"{where}.split"
            ) from exc
    return {"split": {"weights": weights}}


@dataclass(slots=True)
class RuleRow:
    attribute: str = ""
    operator: str = "equals"
    value: str = ""
    target: str = ""

    @property
    def is_blank(self) -> bool:
        return not (self.attribute.strip() or self.value.strip() or self.target.strip())


@dataclass(slots=True)
class FlagForm:
    """The edit form's fields, as shown (from the flag, or as the admin sent them)."""

    description: str
    is_enabled: bool
    default_variant: str
    off_variant: str
    sticky_attribute: str
    rules: list[RuleRow]
    rollout: list[tuple[str, str]]  # (variant, percent as typed), in bucketing order
    revision: int  # the flag's revision the form was filled from
    errors: dict[str, str] = field(default_factory=dict)

    def error_of_rule(self, row: int) -> str:
        return self.errors.get(f"rules[{row}]", "")

    @property
    def filled_rows(self) -> list[int]:
        """The rows that hold a rule: the flag's rules[i] comes from row filled_rows[i]."""
        return [row for row, rule in enumerate(self.rules) if not rule.is_blank]


def _rollout_order(flag: Flag) -> list[str]:
    # The current split's order first: bucketing fills the variants in this order, so
    # keeping it keeps users on the variant they already have when a percentage grows.
    first = [name for name, _ in flag.rollout.weights] if flag.rollout else []
    return first + [v.name for v in flag.variants if v.name not in first]


def form_of(flag: Flag) -> FlagForm:
    """The form filled with the flag as stored."""
    rules = [
        RuleRow(
            rule.attribute,
            rule.operator,
            value_text(rule.value),
            split_text(rule.split) if rule.split else (rule.variant or ""),
        )
        for rule in flag.rules
    ]
    weights = dict(flag.rollout.weights) if flag.rollout else {}
    rollout = [
        (name, f"{weights[name]:g}" if name in weights else "") for name in _rollout_order(flag)
    ]
    return FlagForm(
        flag.description,
        flag.is_enabled,
        flag.default_variant,
        flag.off_variant,
        flag.sticky_attribute,
        rules + [RuleRow() for _ in range(BLANK_RULE_ROWS)],
        rollout,
        flag.revision,
    )


def _text(data: FormData, name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _texts(data: FormData, name: str) -> list[str]:
    return [value if isinstance(value, str) else "" for value in data.getlist(name)]


def submitted_form(flag: Flag, data: FormData) -> FlagForm:
    """The form as the admin sent it."""
    columns = [_texts(data, f"rule_{name}") for name in ("attribute", "operator", "value",
                                                           "target")]  # fmt: skip
    rows = [RuleRow(*cells) for cells in zip(*columns, strict=False)]
    percents = dict(zip(_texts(data, "rollout_variant"), _texts(data, "rollout_percent"),
                        strict=False))  # fmt: skip
    rollout = [(name, percents.get(name, "").strip()) for name in _rollout_order(flag)]
    return FlagForm(
        _text(data, "description"),
        _text(data, "enabled") == "on",
        _text(data, "default_variant"),
        _text(data, "off_variant"),
        _text(data, "sticky_attribute").strip(),
        rows,
        rollout,
        int(revision) if (revision := _text(data, "revision")).isdigit() else -1,
    )


def document_of(flag: Flag, form: FlagForm) -> dict[str, Any]:
    """The dict the API's PUT takes: every changeable field."""
    rules: list[dict[str, Any]] = []
    for row in form.filled_rows:
        rule = form.rules[row]
        where = f"rules[{len(rules)}]"
        operator = rule.operator.strip()
        target = parse_target(rule.target.strip(), where)
        # The form has no field for a split's bucketing attribute and salt: keep them.
        kept = flag.rules[row].split if row < len(flag.rules) else None
        if "split" in target and kept is not None:
            target["split"].update({k: v for k, v in kept.to_dict().items() if k != "weights"})
        rules.append(
            {
                "attribute": rule.attribute.strip(),
                "operator": operator,
                "value": parse_value(rule.value.strip(), operator),
                **target,
            }
        )
    weights: dict[str, float] = {}
    for name, percent in form.rollout:
        if not percent:
            continue
        try:
            number = float(percent)
        except ValueError as exc:
            raise ValidationError("must be a number", field=f"rollout.weights.{name}") from exc
        if number:
            weights[name] = number
    rollout: dict[str, Any] | None = None
    if weights:
        rollout = {"weights": weights}
        if flag.rollout is not None and flag.rollout.attribute:
            rollout["attribute"] = flag.rollout.attribute
        if flag.rollout is not None and flag.rollout.salt:
            rollout["salt"] = flag.rollout.salt
    document = {
        "description": form.description,
        "variants": {v.name: v.value for v in flag.variants},
        "default_variant": form.default_variant,
        "off_variant": form.off_variant,
        "enabled": form.is_enabled,
        "rules": rules,
        "rollout": rollout,
        "sticky_attribute": form.sticky_attribute,
    }
    assert set(document) == set(MUTABLE)
    return document


def error_key(field_path: str | None, rows: list[int]) -> tuple[str, str]:
    """Where on the form an error belongs, and the part of the field it names."""
    path = field_path or "flag"
    if path.startswith("rules[") and "]" in path:
        index, _, rest = path[len("rules[") :].partition("]")
        if index.isdigit() and int(index) < len(rows):
            return f"rules[{rows[int(index)]}]", rest.lstrip(".")
        return "rules", path
    if path.startswith("rollout"):
        return "rollout", path.removeprefix("rollout").lstrip(".")
    if path in ("description", "default_variant", "off_variant", "sticky_attribute"):
        return path, ""
    return "flag", path


@dataclass(frozen=True, slots=True)
class Change:
    """One field an audit entry changed."""

    name: str
    before: str
    after: str


def _shown(value: Any) -> str:
    return "–" if value is None else json.dumps(value)


def changes_of(entry: AuditEntry) -> list[Change]:
    """What an audit entry changed, field by field (every field for a creation)."""
    before, after = entry.before or {}, entry.after or {}
    names = [name for name in after if name not in _BOOKKEEPING]
    names += [name for name in before if name not in after and name not in _BOOKKEEPING]
    return [
        Change(name, _shown(before.get(name)) if entry.before else "", _shown(after.get(name)))
        for name in names
        if entry.before is None or before.get(name) != after.get(name)
    ]


def _quote(key: str) -> str:
    return quote(key, safe="")


@router.get("/flags")
def flags_page(request: Request, _user: CurrentUser, control: Control) -> Response:
    """Every live flag: kind, state, default, rules and rollout."""
    found = list_flags(control.engine)
    return render(
        request,
        "flags.html",
        {"flags": found, "rollout_summary": rollout_summary, "quote": _quote},
    )


def _not_found(request: Request, message: str) -> Response:
    return render(
        request, "error.html", {"title": "No such flag", "message": message}, status_code=404
    )


def _detail(
    request: Request,
    control: Control,
    flag: Flag,
    form: FlagForm,
    *,
    status_code: int = 200,
    message: str = "",
    ok: bool = True,
) -> Response:
    audit = [(entry, changes_of(entry)) for entry in flag_audit_log(control.engine, flag.key)]
    return render(
        request,
        "flags_detail.html",
        {
            "flag": flag,
            "form": form,
            "audit": audit,
            "operators": OPERATORS,
            "flag_url": f"/flags/{_quote(flag.key)}",
            "rollout_summary": rollout_summary,
            "split_text": split_text,
            "value_text": value_text,
            "message": message,
            "ok": ok,
        },
        status_code=status_code,
    )


@router.get("/flags/{key}")
def flag_page(
    request: Request, _user: CurrentUser, control: Control, key: FlagKey, done: str = ""
) -> Response:
    """One flag: its definition, the edit form (admins), the kill switch, its history."""
    try:
        flag = get_flag(control.engine, key)
    except NotFoundError as exc:
        return _not_found(request, exc.message)
    return _detail(request, control, flag, form_of(flag), message=DONE.get(done, ""))


@router.post("/flags/{key}", dependencies=[Depends(verify_csrf)])
async def post_flag(request: Request, user: Admin, control: Control, key: FlagKey) -> Response:
    """Admins: replace the flag's rules, rollout and settings; 422 with the errors beside
    their fields, and nothing changed, when the flag does not validate."""
    try:
        flag = get_flag(control.engine, key)
    except NotFoundError as exc:
        return _not_found(request, exc.message)
    form = submitted_form(flag, await request.form())
    if form.revision != flag.revision:
        # A save replaces every field: never over a change the admin has not seen.
        message = (
            f"{flag.updated_by} changed this flag since you opened it (now revision "
            f"{flag.revision}); nothing was saved. Your form is below: save again to replace it."
        )
        form.revision = flag.revision
        return _detail(request, control, flag, form, status_code=409, message=message, ok=False)
    try:
        document = document_of(flag, form)
        update_flag(control.engine, key, document, by=user.name, now=control.clock.now())
    except ValidationError as exc:
        where, part = error_key(exc.field, form.filled_rows)
        form.errors[where] = f"{part}: {exc.message}" if part else exc.message
        return _detail(request, control, flag, form, status_code=422)
    except ProdloopError as exc:  # changed meanwhile, or gone
        return _detail(request, control, flag, form, status_code=exc.status_code,
                       message=exc.message, ok=False)  # fmt: skip
    return RedirectResponse(f"/flags/{_quote(key)}?done=saved", status_code=303)


@router.post("/flags/{key}/kill", dependencies=[Depends(verify_csrf)])
def post_kill(request: Request, user: Admin, control: Control, key: FlagKey) -> Response:
    """Admins: turn the flag off at once, as `POST /api/v1/flags/{key}/kill` does."""
    back = f"/flags/{_quote(key)}"
    try:
        kill_flag(control.engine, key, by=user.name, now=control.clock.now())
    except ProdloopError as exc:
        return action_result(
            request, ok=False, message=exc.message, status_code=exc.status_code, back=back
        )
    target = back + "?done=killed"
    if request.headers.get("hx-request") == "true":
        # The whole page changes (state, form, history): htmx loads it again.
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
