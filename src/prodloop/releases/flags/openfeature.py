"""An OpenFeature provider over the local-evaluation client.

``openfeature.api.set_provider(ProdloopProvider(FlagClient(url, token)))``: every
resolution is local; the evaluation context's targeting key becomes the ``targetingKey``
attribute. Errors come back as FlagResolutionDetails with the caller's default and an
error code (FLAG_NOT_FOUND, TYPE_MISMATCH, PARSE_ERROR, GENERAL) — never as an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider
from openfeature.provider.metadata import Metadata

from prodloop.releases.flags.client import (
    FlagClient,
    is_boolean,
    is_float,
    is_integer,
    is_object,
    is_string,
)

log = logging.getLogger("prodloop.flags.openfeature")
T = TypeVar("T")
ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]


def context_attributes(context: EvaluationContext | None) -> dict[str, Any]:
    """The flat attribute mapping prodloop evaluates on; datetimes become ISO 8601."""
    if context is None:
        return {}
    attributes: dict[str, Any] = {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in context.attributes.items()
    }
    if context.targeting_key is not None:
        attributes["targetingKey"] = context.targeting_key
    return attributes


class ProdloopProvider(AbstractProvider):
    """OpenFeature provider evaluating prodloop flags in-process."""

    def __init__(self, client: FlagClient) -> None:
        super().__init__()
        self.client = client

    def get_metadata(self) -> Metadata:
        return Metadata(name="prodloop")

    def shutdown(self) -> None:
        self.client.close()

    def _resolve(
        self,
        key: str,
        default: T,
        context: EvaluationContext | None,
        accepts: Callable[[object], bool],
        convert: Callable[[Any], T] = lambda value: value,
    ) -> FlagResolutionDetails[T]:
        try:
            if not self.client.is_ready:
                code = self.client.last_error_code
                return FlagResolutionDetails(
                    value=default,
                    reason=Reason.ERROR,
                    error_code=ErrorCode.PARSE_ERROR
                    if code == "PARSE_ERROR"
                    else ErrorCode.PROVIDER_NOT_READY,
                    error_message=self.client.last_error or "no flag config loaded yet",
                )
            result = self.client.details(key, default, context_attributes(context), accepts)
            if result.error_code is not None:
                return FlagResolutionDetails(
                    value=default,
                    reason=Reason.ERROR,
                    error_code=ErrorCode(result.error_code),
                    error_message=result.error_message,
                )
            return FlagResolutionDetails(
                value=convert(result.value),
                reason=result.reason,
                variant=result.variant,
                flag_metadata={"revision": self.client.revision(key) or 0},
            )
        except Exception as exc:  # the contract: never raise into the caller
            log.exception("flag '%s' could not be resolved", key)
            return FlagResolutionDetails(
                value=default,
                reason=Reason.ERROR,
                error_code=ErrorCode.GENERAL,
                error_message=str(exc) or type(exc).__name__,
            )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, is_boolean)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, is_string)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, is_integer)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context, is_float, float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: ObjectValue,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        return self._resolve(flag_key, default_value, evaluation_context, is_object)
