"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prodloop.telemetry.sli import Slis


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            out.append(cell.ljust(width) if i < 2 else cell.rjust(width))
        return "  ".join(out).rstrip()

    parts = [line(headers), line(["-" * w for w in widths])]
    parts.extend(line(row) for row in rows)
    return "\n".join(parts)


def utc_minute(ts: float | None) -> str:
    """A Unix time to the minute, in UTC; "-" for none."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}"


SLI_HEADERS = (
    "service",
    "version",
    "requests",
    "errors",
    "success",
    "p50",
    "p95",
    "p99",
    "ttft p50",
    "ttft p95",
    "tokens in",
    "tokens out",
    "cost/req",
    "cost unknown",
    "guardrails",
)


def sli_rows(slis: Sequence[Slis]) -> list[list[str]]:
    """One line per group: the SLIs of the guide's table and what they are made of."""
    rows = []
    for s in slis:
        rows.append(
            [
                s.group.get("service", "*"),
                s.group.get("version", "*"),
                str(s.requests),
                _pct(s.error_rate),
                _pct(s.success_rate),
                _ms(s.latency_ms.get("p50")),
                _ms(s.latency_ms.get("p95")),
                _ms(s.latency_ms.get("p99")),
                _ms(s.ttft_ms.get("p50") if s.ttft_ms else None),
                _ms(s.ttft_ms.get("p95") if s.ttft_ms else None),
                str(s.input_tokens),
                str(s.output_tokens),
                _usd(s.cost_per_request_usd),
                str(s.cost_unknown),
                f"{s.guardrail_requests} ({_pct(s.guardrail_trigger_rate)})",
            ]
        )
    return rows


def sli_table(slis: Sequence[Slis]) -> str:
    return render_table(SLI_HEADERS, sli_rows(slis))
