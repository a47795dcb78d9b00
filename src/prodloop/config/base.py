"""The pieces every section of prodloop.yaml is made of: strict models and secret references."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
from pydantic import BaseModel, ConfigDict, SecretStr

from prodloop.durations import format_duration, parse_duration
from prodloop.errors import ValidationError

ENV_PREFIX = "PRODLOOP_"
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class FieldError(ValueError):
    """A cross-reference error found by a model validator, with the path of the bad field.

    Pydantic reports a model validator's errors at the model itself; this carries the path
    below it so the message can name the exact field and its line.
    """

    def __init__(self, message: str, *loc: str | int) -> None:
        super().__init__(message)
        self.loc = loc


class StrictModel(BaseModel):
    # Unknown keys are typos far more often than intent, so they are errors.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _env_ref(value: object, *, what: str) -> str:
    if not isinstance(value, str) or not _ENV_REF.match(value):
        raise ValueError(
            f"{what} must be an environment reference like ${{MY_SECRET}}, not a literal value"
        )
    return value


class SecretRef(StrictModel):
    """An environment reference and, once resolved, its value (never printed)."""

    ref: str
    value: SecretStr | None = None

    @property
    def env_name(self) -> str:
        match = _ENV_REF.match(self.ref)
        assert match is not None
        return match.group(1)

    def get(self) -> str | None:
        return self.value.get_secret_value() if self.value is not None else None


def _to_secret_ref(value: object, info: pydantic.ValidationInfo) -> object:
    if isinstance(value, SecretRef):
        return value
    ref = _env_ref(value, what="a secret")
    context = info.context if isinstance(info.context, dict) else {}
    environ: Mapping[str, str] = context.get("environ", os.environ)
    return {"ref": ref, "value": environ.get(ref[2:-1])}


Secret = Annotated[SecretRef, pydantic.BeforeValidator(_to_secret_ref)]


def _check_duration(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_duration(float(value))
    try:
        parse_duration(value)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ValueError(exc.message) from exc
    return value


# A duration as written in the file ("5m"); `duration_s` reads it as seconds.
Duration = Annotated[str, pydantic.BeforeValidator(_check_duration)]


def _check_time_zone(value: object) -> object:
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{value}'") from exc
    return value


# An IANA time zone name, checked at load ("Europe/Paris", "UTC").
TimeZone = Annotated[str, pydantic.BeforeValidator(_check_time_zone)]


def duration_s(text: str) -> float:
    return parse_duration(text)


def as_timedelta(text: str) -> timedelta:
    return timedelta(seconds=parse_duration(text))
