"""Feature flags evaluated per request, passed to the upstream in one header.

With ``gateway.flags: [new-prompt, model-choice]`` every proxied request carries
``x-prodloop-flags: new-prompt=on;model-choice=large`` (the variant each flag serves).
The context is ``targetingKey`` (the request's user, the same one weighted routing is
sticky on), ``service``, ``version`` and ``model``. A flag that does not exist (yet) is
left out of the header. A header of the same name sent by the client is dropped, so an
app can trust it.

The flag config is read from the store by `FlagsPoller` in a worker thread, never on a
request's path; a poll asks only for the config's ETag and reloads when it changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine

from prodloop.gateway.polling import StorePoller
from prodloop.releases.flags.client import FlagSet
from prodloop.releases.flags.evaluate import compile_flag
from prodloop.releases.flags.store import config_etag, flag_config

POLL_INTERVAL_S = 0.5


class GatewayFlags:
    """The flags one gateway evaluates, and the compiled config they come from."""

    def __init__(self, header: str, keys: Sequence[str]) -> None:
        self.header = header.lower()
        self.keys = tuple(keys)
        self.flagset = FlagSet({})

    def header_value(self, user: str | None, service: str, version: str, model: str | None) -> str:
        """``key=variant;…`` for this request's context."""
        context: dict[str, Any] = {"service": service, "version": version}
        if user is not None:
            context["targetingKey"] = user
        if model:
            context["model"] = model
        flags = self.flagset.flags
        parts = []
        for key in self.keys:
            flag = flags.get(key)
            if flag is not None:
                parts.append(f"{key}={flag.evaluate(context).variant}")
        return ";".join(parts)

    def forward_headers(self, headers: list[tuple[str, str]], value: str) -> list[tuple[str, str]]:
        """`headers` without any client-sent copy of the flag header, plus ours (`value`)."""
        kept = [(k, v) for k, v in headers if k.lower() != self.header]
        kept.append((self.header, value))
        return kept


class FlagsPoller(StorePoller[FlagSet | None, bool]):
    """Keeps a GatewayFlags in step with the store's flags (≤ `interval_s` stale)."""

    subject = "the flag config"
    kept = "flags"

    def __init__(
        self, engine: Engine, flags: GatewayFlags, interval_s: float = POLL_INTERVAL_S
    ) -> None:
        super().__init__(engine, interval_s)
        self.flags = flags

    def read(self) -> FlagSet | None:
        """The store's config, or None when its ETag is the one already loaded."""
        etag = config_etag(self.engine)
        if etag == self.flags.flagset.etag:
            return None
        config = flag_config(self.engine)
        return FlagSet({f.key: compile_flag(f) for f in config.flags}, config.etag)

    def apply(self, fresh: FlagSet | None) -> bool:
        """True when a new config was loaded."""
        if fresh is None:
            return False
        self.flags.flagset = fresh
        return True
