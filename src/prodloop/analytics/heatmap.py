"""Click heatmaps of one page: `$click` events with viewport-normalised x, y rendered to PNG.

The image has a title band (page, click count, time range, a colour legend) above the
heat area; the heat area is the viewport, x = 0..1 left to right and y = 0..1 top to
bottom. Clicks are counted on a grid of 4-pixel cells, blurred with a Gaussian (σ ≈ 1.2 %
of the longer side) and coloured from transparent blue (few) to red (the most).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.analytics.params import TimeRange
from prodloop.analytics.rage import Click, RageClick, RageSpot, find_rage_clicks, top_spots
from prodloop.config.feedback import AnalyticsSettings
from prodloop.errors import ValidationError
from prodloop.store.schema import analytics_events

CLICK_EVENT = "$click"
HEADER_PX = 32
CELL_PX = 4
BACKGROUND = (246, 247, 249)
# Density 0..1 to colour; alpha rises with density so sparse clicks stay faint.
_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_RAMP = np.array(
    [
        [0, 0, 255, 0],
        [0, 200, 255, 150],
        [0, 220, 0, 190],
        [255, 230, 0, 215],
        [230, 0, 0, 235],
    ],
    dtype=float,
)
MIN_SIDE, MAX_SIDE = 200, 4000


@dataclass(frozen=True, slots=True)
class Heatmap:
    page: str
    time_range: TimeRange
    clicks: int
    rage_clicks: list[RageClick]
    spots: list[RageSpot]
    png: bytes = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "since": self.time_range.since,
            "until": self.time_range.until,
            "clicks": self.clicks,
            "rage_clicks": len(self.rage_clicks),
            "rage_spots": [s.to_dict() for s in self.spots],
        }


def heat_area(width: int, height: int) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) pixels the viewport maps to."""
    return 0, HEADER_PX, width, height


def check_size(width: int, height: int, *, field: str = "size") -> None:
    for side in (width, height):
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise ValidationError(
                f"{width}x{height}: each side must be {MIN_SIDE} to {MAX_SIDE} pixels", field=field
            )


def load_clicks(engine: Engine, page: str, time_range: TimeRange) -> list[Click]:
    """The page's clicks with a position, in time order."""
    table = analytics_events
    query = (
        select(table.c.ts, table.c.x, table.c.y, table.c.distinct_id, table.c.session_id)
        .where(
            table.c.path == page,
            table.c.event == CLICK_EVENT,
            table.c.ts >= time_range.since,
            table.c.ts < time_range.until,
            table.c.x.is_not(None),
            table.c.y.is_not(None),
        )
        .order_by(table.c.ts, table.c.id)
    )
    with engine.connect() as conn:
        return [
            Click(ts, min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0), user, session)
            for ts, x, y, user, session in conn.execute(query)
        ]


def _gaussian(size: int, sigma: float) -> npt.NDArray[np.float64]:
    offsets = np.arange(size, dtype=float)
    return np.exp(-((offsets[:, None] - offsets[None, :]) ** 2) / (2 * sigma**2))


def density(clicks: list[Click], width: int, height: int) -> npt.NDArray[np.float64]:
    """Blurred click density over the heat area, 0..1, one value per pixel (rows = y)."""
    left, top, right, bottom = heat_area(width, height)
    area_w, area_h = right - left, bottom - top
    cols, rows = max(1, area_w // CELL_PX), max(1, area_h // CELL_PX)
    counts = np.zeros((rows, cols))
    if clicks:
        xs = np.array([c.x for c in clicks])
        ys = np.array([c.y for c in clicks])
        counts, _, _ = np.histogram2d(ys, xs, bins=[rows, cols], range=[[0, 1], [0, 1]])
    sigma = max(1.0, 0.012 * max(area_w, area_h) / CELL_PX)
    # Separable blur as two matrix products: exact, and fast at these grid sizes.
    blurred = _gaussian(rows, sigma) @ counts @ _gaussian(cols, sigma)
    peak = float(blurred.max())
    scaled = blurred / peak if peak > 0 else blurred
    grid = Image.fromarray(scaled.astype(np.float32), mode="F")
    full = np.asarray(grid.resize((area_w, area_h), Image.Resampling.BILINEAR), dtype=np.float64)
    clipped: npt.NDArray[np.float64] = np.clip(full, 0.0, 1.0)
    return clipped


def render_png(clicks: list[Click], width: int, height: int, title: str) -> bytes:
    """The heatmap PNG: the title band, then the coloured density over a plain background."""
    left, top, right, bottom = heat_area(width, height)
    values = density(clicks, width, height)
    colour = np.stack([np.interp(values, _STOPS, _RAMP[:, c]) for c in range(4)], axis=-1)
    alpha = colour[..., 3:] / 255.0
    background = np.array(BACKGROUND, dtype=float)
    area = colour[..., :3] * alpha + background * (1 - alpha)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[:top] = (32, 36, 44)
    canvas[top:bottom, left:right] = area.round().astype(np.uint8)
    image = Image.fromarray(canvas, mode="RGB")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    draw.text((10, 10), title, fill=(240, 240, 240), font=font)
    legend_w = min(160, width // 4)
    legend_x = width - legend_w - 50
    for i in range(legend_w):
        r, g, b, a = (np.interp(i / (legend_w - 1), _STOPS, _RAMP[:, c]) for c in range(4))
        shade = tuple(
            round(v * a / 255 + bg * (1 - a / 255))
            for v, bg in zip((r, g, b), BACKGROUND, strict=True)
        )
        draw.line([(legend_x + i, 12), (legend_x + i, 20)], fill=shade)
    draw.text((legend_x - 30, 10), "few", fill=(200, 200, 200), font=font)
    draw.text((legend_x + legend_w + 6, 10), "most", fill=(200, 200, 200), font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def build_heatmap(
    engine: Engine,
    settings: AnalyticsSettings,
    page: str,
    time_range: TimeRange,
    *,
    width: int = 1280,
    height: int = 800,
    is_rendered: bool = True,
) -> Heatmap:
    """The page's clicks in the range: the PNG (empty unless `is_rendered`), the count and
    the rage clicks."""
    check_size(width, height)
    if not page.strip():
        raise ValidationError("name the page path, like /chat", field="page")
    clicks = load_clicks(engine, page, time_range)
    bursts = find_rage_clicks(clicks, settings)
    title = (
        f"{page}  ·  {len(clicks)} clicks  ·  {len(bursts)} rage clicks  ·  "
        f"{_day(time_range.since)} to {_day(time_range.until)} UTC"
    )
    png = render_png(clicks, width, height, title) if is_rendered else b""
    spots = top_spots(bursts, settings.rage_click_radius)
    return Heatmap(page, time_range, len(clicks), bursts, spots, png)
