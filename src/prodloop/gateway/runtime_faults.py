"""Fault rules turned on at run time: stored in `fault_rules`, polled by the gateways.

A drill against a staging prodloop puts its fault through `PUT /api/v1/faults`; every
gateway of that prodloop whose config has `faults.enabled: true` picks it up within
`POLL_INTERVAL_S`. `FaultsPoller` reads the table in a worker thread, never on a
request's path, and a gateway with faults disabled is never given a poller at all, so a
rule in a production store cannot reach its traffic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pydantic
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from prodloop.config import FaultRule
from prodloop.errors import ValidationError
from prodloop.gateway.faults import FaultInjector
from prodloop.gateway.polling import StorePoller
from prodloop.store.schema import fault_rules

log = logging.getLogger("prodloop.gateway")

POLL_INTERVAL_S = 0.25
_RULES = pydantic.TypeAdapter(list[FaultRule])


def parse_fault_rules(body: Any) -> list[FaultRule]:
    """A JSON list of rules in the config's `faults.rules` shape; the error names the field."""
    try:
        return _RULES.validate_python(body)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
        )
        if not where:
            raise ValidationError("send a list of fault rules", field="body") from None
        raise ValidationError(str(first["msg"]), field=where.lstrip(".")) from None


def read_fault_rules(engine: Engine) -> list[FaultRule]:
    """The runtime rules, in the order they were put."""
    t = fault_rules.c
    with engine.connect() as conn:
        rows = conn.execute(select(fault_rules).order_by(t.id)).mappings().all()
    return [
        FaultRule(
            service=row["service"],
            version=row["version"],
            latency_ms=row["latency_ms"],
            error_rate=row["error_rate"],
            error_status=row["error_status"],
            token_multiplier=row["token_multiplier"],
        )
        for row in rows
    ]


def replace_fault_rules(
    engine: Engine, rules: Sequence[FaultRule], *, by: str, now: float
) -> list[FaultRule]:
    """Make `rules` the runtime rules, all at once (an empty list turns every fault off)."""
    with engine.begin() as conn:
        conn.execute(delete(fault_rules))
        if rules:
            conn.execute(
                insert(fault_rules),
                [{**rule.model_dump(), "created_at": now, "created_by": by} for rule in rules],
            )
    return read_fault_rules(engine)


class FaultsPoller(StorePoller[list[FaultRule], bool]):
    """Keeps a gateway's runtime fault rules in step with the store (≤ `interval_s` stale)."""

    subject = "the runtime fault rules"
    kept = "ones"

    def __init__(
        self, engine: Engine, injector: FaultInjector, interval_s: float = POLL_INTERVAL_S
    ) -> None:
        super().__init__(engine, interval_s)
        self.injector = injector

    def read(self) -> list[FaultRule]:
        return read_fault_rules(self.engine)

    def apply(self, fresh: list[FaultRule]) -> bool:
        """True when the rules changed."""
        changed = self.injector.set_runtime_rules(fresh)
        if changed:
            log.info("runtime fault rules now: %d rule(s)", len(fresh))
        return changed
