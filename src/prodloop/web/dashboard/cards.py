"""SLO cards: an SLO's status as the dashboard shows it, green / amber / red."""

from __future__ import annotations

from dataclasses import dataclass

from prodloop.slo.status import SloStatus

# Amber before red: less than this share of the error budget left, or a burn rate over 1
# (spending faster than the window allows) in the last hour.
LOW_BUDGET = 0.25
FAST_BURN = 1.0


@dataclass(frozen=True, slots=True)
class SloCard:
    status: SloStatus
    colour: str  # green | amber | red | grey (no traffic)
    unit: str  # pct | ms | usd | number

    @property
    def key(self) -> str:
        return f"{self.status.service}/{self.status.slo}"


def unit_of(indicator: str) -> str:
    """How an indicator's values read: a share, milliseconds, dollars or a plain number."""
    if indicator.endswith("_ms"):
        return "ms"
    if indicator.endswith("_usd"):
        return "usd"
    if indicator.endswith("rate"):
        return "pct"
    return "number"


def colour_of(status: SloStatus) -> str:
    """red: the SLO is missed or its budget spent; amber: budget low or burning fast."""
    if status.sli is None:
        return "grey"
    if status.is_met is False or (
        status.budget_remaining is not None and status.budget_remaining <= 0
    ):
        return "red"
    burn_1h = status.burn_rates.get("1h")
    if (status.budget_remaining is not None and status.budget_remaining < LOW_BUDGET) or (
        burn_1h is not None and burn_1h > FAST_BURN
    ):
        return "amber"
    return "green"


def slo_cards(statuses: list[SloStatus]) -> list[SloCard]:
    return [SloCard(s, colour_of(s), unit_of(s.indicator)) for s in statuses]


def worst_colour(cards: list[SloCard]) -> str:
    """The colour of the worst card (what a service's summary shows)."""
    order = ("red", "amber", "green", "grey")
    colours = {card.colour for card in cards}
    return next((c for c in order if c in colours), "grey")
