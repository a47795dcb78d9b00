"""What the report's sections share: number formats, verdicts and the report being built."""

from __future__ import annotations

from typing import Any


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def fmt_spread(s: dict[str, float] | None, digits: int = 2) -> str:
    """median [min – max] of the per-round figures."""
    if not s:
        return "–"
    if s.get("rounds", 1) <= 1:
        return fmt(s["median"], digits)
    return f"{fmt(s['median'], digits)} [{fmt(s['min'], digits)} – {fmt(s['max'], digits)}]"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:,.1f}×"


def rounds(n: int) -> str:
    return f"{n} round" + ("" if n == 1 else "s")


def verdict(ok: bool | None) -> str:
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**NOT MET**"


class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.targets: list[tuple[str, str, bool | None]] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def target(self, what: str, measured: str, ok: bool | None) -> None:
        self.targets.append((what, measured, ok))


def median(summary: dict[str, Any] | None, *path: str) -> float | None:
    node: Any = summary
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    if isinstance(node, dict):
        return node.get("median")
    return node if isinstance(node, int | float) else None
