"""The PromQL of prodloop's SLIs, over the metrics `/metrics` exposes.

Every SLO is reduced, as `prodloop.slo.budget` reduces it, to a bad count over an eligible
count, each a sum of counters with signs:

* ratio: errors (the server-side classes of `prodloop_errors_total`, or every class for
  ``bad: failures``) over `prodloop_requests_total`;
* latency: requests slower than the threshold (the histogram's count minus its bucket
  at the threshold) over the histogram's count;
* rate: `prodloop_guardrail_requests_total` over `prodloop_requests_total`;
* average: `prodloop_cost_usd_total` over the requests with a known cost.

The rule files, the OpenSLO documents and the Grafana dashboard all build their queries
from these, so they cannot disagree about what an SLO counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from prodloop.config import Slo
from prodloop.durations import SECONDS_PER_UNIT
from prodloop.errors import ValidationError
from prodloop.telemetry.events import SERVER_ERRORS

REQUESTS = "prodloop_requests_total"
ERRORS = "prodloop_errors_total"
COST = "prodloop_cost_usd_total"
COST_UNKNOWN = "prodloop_cost_unknown_total"
GUARDRAIL_REQUESTS = "prodloop_guardrail_requests_total"
GUARDRAIL_TRIGGERS = "prodloop_guardrail_triggers_total"
DURATION = "gen_ai_client_operation_duration_seconds"
TOKENS = "prodloop_tokens_total"

_REGEX_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")


def prom_duration(seconds: float) -> str:
    """A duration as Prometheus writes it: 5m, 1h, 1d, 90s, 1500ms."""
    if seconds <= 0:
        return "0s"
    for unit in ("w", "d", "h", "m", "s"):
        size = SECONDS_PER_UNIT[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    millis = seconds * 1000
    if millis != int(millis):
        raise ValidationError(f"{seconds:g}s is finer than Prometheus durations (1 ms)")
    return f"{int(millis)}ms"


def number(value: float) -> str:
    """A float exactly as Python holds it, so Prometheus compares the same double."""
    return repr(float(value))


def le_label(seconds: float) -> str:
    """The `le` label the Python client gives the bucket boundary `seconds`."""
    label: str = floatToGoString(seconds)  # type: ignore[no-untyped-call]
    return label


def quote(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def any_of(values: Sequence[str]) -> str:
    """An RE2 alternation matching exactly `values`, quoted for PromQL."""
    return quote("|".join(_REGEX_SPECIAL.sub(r"\\\1", value) for value in sorted(values)))


@dataclass(frozen=True, slots=True)
class Series:
    """A counter and the matchers that pick its series (always summed together)."""

    metric: str
    matchers: tuple[str, ...] = ()

    def selector(self, extra: Sequence[str] = ()) -> str:
        matchers = [*self.matchers, *extra]
        return f"{self.metric}{{{', '.join(matchers)}}}" if matchers else self.metric


# A sum of counters: (+1 or -1, series) terms.
Terms = tuple[tuple[int, Series], ...]


@dataclass(frozen=True, slots=True)
class Sli:
    """What one SLO counts, as counters: bad over eligible (average: spend over requests)."""

    bad: Terms
    eligible: Terms

    def ratio(
        self, window: str, by: Sequence[str] = ("service",), extra: Sequence[str] = ()
    ) -> str:
        """Bad share (average: the average) over `window`, per `by`."""
        return (
            f"({combine(self.bad, 'rate', window, by, extra)})\n/\n"
            f"({combine(self.eligible, 'rate', window, by, extra)})"
        )

    def eligible_increase(
        self, window: str, by: Sequence[str] = ("service",), extra: Sequence[str] = ()
    ) -> str:
        """Eligible events in `window`, per `by`."""
        return combine(self.eligible, "increase", window, by, extra)


def combine(
    terms: Terms, function: str, window: str, by: Sequence[str], extra: Sequence[str] = ()
) -> str:
    """`function` (rate, increase) of each term over `window`, summed per `by`, signed."""
    grouping = f" by ({', '.join(by)})" if by else ""
    parts = []
    for i, (sign, series) in enumerate(terms):
        text = f"sum{grouping} ({function}({series.selector(extra)}[{window}]))"
        if i == 0:
            parts.append(text if sign > 0 else f"-{text}")
        else:
            parts.append(f"{'+' if sign > 0 else '-'} {text}")
    return " ".join(parts)


def counters(terms: Terms, extra: Sequence[str] = ()) -> str:
    """The raw counters of a sum (no rate), summed: what OpenSLO's ``counter: true`` wants."""
    parts = []
    for i, (sign, series) in enumerate(terms):
        text = f"sum({series.selector(extra)})"
        if i == 0:
            parts.append(text if sign > 0 else f"-{text}")
        else:
            parts.append(f"{'+' if sign > 0 else '-'} {text}")
    return " ".join(parts)


def service_matchers(slo: Slo) -> tuple[str, ...]:
    """The matcher restricting an SLO to its services (none when it holds for every one)."""
    return (f"service=~{any_of(slo.services)}",) if slo.services else ()


def sli_of(slo: Slo) -> Sli:
    """The counters an SLO counts."""
    scope = service_matchers(slo)
    requests = Series(REQUESTS, scope)
    if slo.kind == "ratio":
        if slo.bad == "errors":
            bad = Series(ERRORS, (*scope, f"error_class=~{any_of(sorted(SERVER_ERRORS))}"))
        else:
            bad = Series(ERRORS, scope)
        return Sli(bad=((1, bad),), eligible=((1, requests),))
    if slo.kind == "latency":
        assert slo.threshold_ms is not None
        total = Series(f"{DURATION}_count", scope)
        fast = Series(
            f"{DURATION}_bucket", (*scope, f"le={quote(le_label(slo.threshold_ms / 1000))}")
        )
        return Sli(bad=((1, total), (-1, fast)), eligible=((1, total),))
    if slo.kind == "rate":
        return Sli(bad=((1, Series(GUARDRAIL_REQUESTS, scope)),), eligible=((1, requests),))
    return Sli(
        bad=((1, Series(COST, scope)),),
        eligible=((1, requests), (-1, Series(COST_UNKNOWN, scope))),
    )


def latency_quantile(
    quantile: float, window: str, by: Sequence[str] = ("service",), extra: Sequence[str] = ()
) -> str:
    """The latency (seconds) at `quantile` over `window`, from the histogram's buckets."""
    grouping = ", ".join([*by, "le"])
    selector = Series(f"{DURATION}_bucket").selector(extra)
    return (
        f"histogram_quantile({number(quantile)}, sum by ({grouping}) (rate({selector}[{window}])))"
    )
