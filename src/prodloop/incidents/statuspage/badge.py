"""An SVG status badge per component, in the shields.io flat style."""

from __future__ import annotations

from html import escape

from prodloop.incidents.statuspage.model import PublicComponent

COLOURS = {
    "operational": "#2fbf71",
    "under_maintenance": "#3b82f6",
    "degraded_performance": "#e3b505",
    "partial_outage": "#f08a24",
    "major_outage": "#e5484d",
}
LABELS = {
    "operational": "operational",
    "under_maintenance": "maintenance",
    "degraded_performance": "degraded",
    "partial_outage": "partial outage",
    "major_outage": "major outage",
}


def _width(text: str) -> int:
    # Verdana 11px averages about 6.5 px per character; the padding is 10 px a side.
    return int(len(text) * 6.5) + 20


def badge_svg(component: PublicComponent) -> bytes:
    """A two-part badge: the component's name, and its state in the state's colour."""
    label = escape(component.name)
    value = LABELS[component.status]
    left, right = _width(component.name), _width(value)
    total = left + right
    colour = COLOURS[component.status]
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{label}: {value}" data-state="{component.status}">'
        f"<title>{label}: {value}</title>"
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
        f'font-size="11">'
        f'<text x="{left / 2}" y="14">{label}</text>'
        f'<text x="{left + right / 2}" y="14">{value}</text></g></svg>'
    )
    return svg.encode()
