"""Token prices by model: a built-in table, overridden by the user's config.

Prices are USD per million tokens. A model matching no entry has an unknown cost,
which is recorded as such and counted; it is never silently $0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from prodloop.config import Price

# Checked top to bottom, so a more specific name comes before its prefix
# (gpt-4o-mini before gpt-4o). An optional provider prefix and date suffix are allowed.
_SUFFIX = r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)?$"
BUILT_IN: tuple[tuple[str, float, float, float | None], ...] = (
    # pattern, input, output, cached input
    (r"gpt-5-nano", 0.05, 0.40, 0.005),
    (r"gpt-5-mini", 0.25, 2.00, 0.025),
    (r"gpt-5(\.\d)?(-chat)?", 1.25, 10.00, 0.125),
    (r"gpt-4\.1-nano", 0.10, 0.40, 0.025),
    (r"gpt-4\.1-mini", 0.40, 1.60, 0.10),
    (r"gpt-4\.1", 2.00, 8.00, 0.50),
    (r"gpt-4o-mini", 0.15, 0.60, 0.075),
    (r"gpt-4o", 2.50, 10.00, 1.25),
    (r"gpt-4-turbo", 10.00, 30.00, None),
    (r"gpt-3\.5-turbo(-\d+)?", 0.50, 1.50, None),
    (r"o4-mini", 1.10, 4.40, 0.275),
    (r"o3-mini", 1.10, 4.40, 0.55),
    (r"o3", 2.00, 8.00, 0.50),
    (r"o1-mini", 1.10, 4.40, 0.55),
    (r"o1", 15.00, 60.00, 7.50),
    (r"text-embedding-3-small", 0.02, 0.0, None),
    (r"text-embedding-3-large", 0.13, 0.0, None),
    (r"text-embedding-ada-002", 0.10, 0.0, None),
    (r"claude-(opus-4-5|opus-4\.5)", 5.00, 25.00, 0.50),
    (r"claude-(3-)?opus(-4)?(-\d)?", 15.00, 75.00, 1.50),
    (r"claude-(sonnet-4(-5)?|3-7-sonnet|3-5-sonnet)", 3.00, 15.00, 0.30),
    (r"claude-haiku-4-5", 1.00, 5.00, 0.10),
    (r"claude-3-5-haiku", 0.80, 4.00, 0.08),
    (r"claude-3-haiku", 0.25, 1.25, 0.03),
    (r"gemini-2\.5-pro", 1.25, 10.00, 0.31),
    (r"gemini-2\.5-flash-lite", 0.10, 0.40, 0.025),
    (r"gemini-2\.5-flash", 0.30, 2.50, 0.075),
    (r"gemini-2\.0-flash", 0.10, 0.40, 0.025),
)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    pattern: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """Cost in USD. `input_tokens` includes the cached ones, as OpenAI reports them."""
        cached = min(max(cached_tokens, 0), max(input_tokens, 0))
        fresh = max(input_tokens, 0) - cached
        return (
            fresh * self.input_per_mtok
            + cached * self.cached_input_per_mtok
            + max(output_tokens, 0) * self.output_per_mtok
        ) / 1_000_000


class PriceTable:
    """Looks a model's price up: the user's overrides first, then the built-in table."""

    def __init__(self, overrides: Sequence[Price] = ()) -> None:
        entries: list[tuple[re.Pattern[str], ModelPrice]] = []
        for price in overrides:
            cached = price.cached_input_per_mtok
            entries.append(
                (
                    re.compile(price.match),
                    ModelPrice(
                        price.match,
                        price.input_per_mtok,
                        price.output_per_mtok,
                        price.input_per_mtok if cached is None else cached,
                    ),
                )
            )
        for pattern, inp, out, cached_in in BUILT_IN:
            full = rf"^([\w.-]+/)?{pattern}{_SUFFIX}"
            entries.append(
                (
                    re.compile(full),
                    ModelPrice(full, inp, out, inp if cached_in is None else cached_in),
                )
            )
        self._entries = tuple(entries)
        self.price_for = lru_cache(maxsize=1024)(self._lookup)

    def _lookup(self, model: str) -> ModelPrice | None:
        for regex, price in self._entries:
            if regex.search(model):
                return price
        return None

    def cost(
        self, model: str | None, input_tokens: int, output_tokens: int, cached_tokens: int = 0
    ) -> float | None:
        """USD for one request, or None when the model has no known price."""
        if not model:
            return None
        price = self.price_for(model)
        if price is None:
            return None
        return price.cost(input_tokens, output_tokens, cached_tokens)
