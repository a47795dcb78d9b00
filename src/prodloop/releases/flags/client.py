"""A local-evaluation flag client: fetch the whole config once, evaluate in-process.

``FlagClient(url, token)`` fetches ``GET /api/v1/flags/config``, then polls it with
``If-None-Match`` so an unchanged config costs one 304. When the control plane is
unreachable the client keeps serving the last good config and counts the failure;
before the first success every call returns the caller's default. Rules are compiled at
load, so a boolean flag evaluates in about a microsecond.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx

from prodloop.errors import ProdloopError
from prodloop.releases.flags.evaluate import ERROR, CompiledFlag, Evaluation, compile_flag
from prodloop.releases.flags.model import flag_from_dict

log = logging.getLogger("prodloop.flags.client")

CONFIG_PATH = "/api/v1/flags/config"
FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
TYPE_MISMATCH = "TYPE_MISMATCH"
PARSE_ERROR = "PARSE_ERROR"
GENERAL = "GENERAL"
_EMPTY: Mapping[str, Any] = {}

T = TypeVar("T")


def is_boolean(value: object) -> bool:
    return value.__class__ is bool


def is_string(value: object) -> bool:
    return isinstance(value, str)


def is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_float(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_object(value: object) -> bool:
    return isinstance(value, dict | list)


class FlagSet:
    """An immutable set of compiled flags, from the config document the API serves."""

    __slots__ = ("etag", "flags")

    def __init__(self, flags: Mapping[str, CompiledFlag], etag: str | None = None) -> None:
        self.flags = dict(flags)
        self.etag = etag

    @classmethod
    def from_document(cls, document: Mapping[str, Any], etag: str | None = None) -> FlagSet:
        """Compile ``{"etag": …, "flags": {key: flag JSON}}``; a bad flag raises."""
        raw = document.get("flags")
        if not isinstance(raw, Mapping):
            raise ValueError("the flag config has no 'flags' object")
        compiled = {key: compile_flag(flag_from_dict(data, key=key)) for key, data in raw.items()}
        return cls(compiled, etag if etag is not None else document.get("etag"))

    def resolve(
        self,
        key: str,
        default: T,
        context: Mapping[str, Any] | None,
        accepts: Callable[[object], bool],
    ) -> Evaluation:
        """The evaluation of `key`, or `default` with FLAG_NOT_FOUND / TYPE_MISMATCH."""
        flag = self.flags.get(key)
        if flag is None:
            return Evaluation(default, None, ERROR, FLAG_NOT_FOUND, f"no flag '{key}'")
        result = flag.evaluate(_EMPTY if context is None else context)
        if not accepts(result.value):
            return Evaluation(
                default,
                None,
                ERROR,
                TYPE_MISMATCH,
                f"flag '{key}' serves {type(result.value).__name__}",
            )
        return result


class FlagClient:
    """Evaluates flags locally from a config polled from the control plane."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        poll_interval_s: float = 5.0,
        timeout_s: float = 2.0,
        start: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )
        self._set = FlagSet({})
        self.poll_interval_s = poll_interval_s
        self.fetches = 0
        self.not_modified = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_error_code: str | None = None
        self.is_ready = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if start:
            self.refresh()
            self.start()

    @property
    def etag(self) -> str | None:
        return self._set.etag

    def refresh(self) -> bool:
        """Fetch the config once; True when it changed. Failures keep the last good config."""
        headers = {"if-none-match": self._set.etag} if self._set.etag else {}
        try:
            response = self._http.get(CONFIG_PATH, headers=headers)
            if response.status_code == 304:
                self.not_modified += 1
                self.last_error = self.last_error_code = None
                return False
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return self._failed(exc, GENERAL)
        try:
            self._set = FlagSet.from_document(response.json(), response.headers.get("etag"))
        except (ValueError, TypeError, KeyError, ProdloopError) as exc:
            return self._failed(exc, PARSE_ERROR)
        self.fetches += 1
        self.is_ready = True
        self.last_error = self.last_error_code = None
        return True

    def _failed(self, exc: Exception, code: str) -> bool:
        # Serving the last good config is the point; the failure is counted and kept.
        self.failures += 1
        self.last_error = str(exc) or type(exc).__name__
        self.last_error_code = code
        log.warning("flag config fetch failed (%s); serving the last good config", exc)
        return False

    def revision(self, key: str) -> int | None:
        """The revision of the flag being served under `key`, or None."""
        flag = self._set.flags.get(key)
        return flag.flag.revision if flag is not None else None

    def start(self) -> None:
        """Poll in a daemon thread every `poll_interval_s`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="prodloop-flags", daemon=True)
            self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            self.refresh()

    def close(self) -> None:
        """Stop polling and close the HTTP client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.poll_interval_s + 5)
        self._http.close()

    def __enter__(self) -> FlagClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def details(
        self,
        key: str,
        default: Any,
        context: Mapping[str, Any] | None = None,
        accepts: Callable[[object], bool] = lambda _value: True,
    ) -> Evaluation:
        """The full evaluation (value, variant, reason, error code) of one flag."""
        return self._set.resolve(key, default, context, accepts)

    def boolean(self, key: str, default: bool, context: Mapping[str, Any] | None = None) -> bool:
        """The flag's boolean value, or `default` if it is missing or not a boolean."""
        flag = self._set.flags.get(key)
        if flag is None:
            return default
        value = flag.evaluate(_EMPTY if context is None else context).value
        return value if value.__class__ is bool else default

    def string(self, key: str, default: str, context: Mapping[str, Any] | None = None) -> str:
        """The flag's string value, or `default`."""
        value = self._set.resolve(key, default, context, is_string).value
        return value if isinstance(value, str) else default

    def integer(self, key: str, default: int, context: Mapping[str, Any] | None = None) -> int:
        """The flag's integer value, or `default`."""
        value = self._set.resolve(key, default, context, is_integer).value
        return value if isinstance(value, int) else default

    def float(self, key: str, default: float, context: Mapping[str, Any] | None = None) -> float:
        """The flag's number value as a float, or `default`."""
        value = self._set.resolve(key, default, context, is_float).value
        return float(value) if isinstance(value, int | float) else default

    def object(self, key: str, default: Any, context: Mapping[str, Any] | None = None) -> Any:
        """The flag's object (JSON object or list) value, or `default`."""
        return self._set.resolve(key, default, context, is_object).value

    def load(self, document: Mapping[str, Any]) -> None:
        """Serve `document` (the config JSON) without asking the server: tests, offline use."""
        self._set = FlagSet.from_document(document)
        self.is_ready = True
