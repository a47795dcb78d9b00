"""The control plane: /api/v1 (token auth), ingest endpoints, /v1/traces, /metrics."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from prodloop import __version__
from prodloop.api import (
    alerts,
    analytics,
    experiments,
    faults,
    feedback,
    flags,
    incidents,
    ingest,
    launch,
    public,
    releases,
    slis,
    slos,
)
from prodloop.api.auth import Keys
from prodloop.api.errors import install_error_handlers
from prodloop.api.state import ControlState, get_state
from prodloop.clock import Clock, SystemClock
from prodloop.config import Config
from prodloop.ratelimit import TokenBucketLimiter
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.pipeline import Pipeline
from prodloop.telemetry.pricing import PriceTable
from prodloop.web import status as status_page
from prodloop.web import widget
from prodloop.web.dashboard.router import install_dashboard


def create_control_app(
    config: Config,
    engine: Engine,
    pipeline: Pipeline,
    metrics: Metrics,
    *,
    clock: Clock | None = None,
) -> FastAPI:
    """The control-plane ASGI app. The caller owns the pipeline's start and stop."""
    clock = clock or SystemClock()
    app = FastAPI(
        title="prodloop control plane",
        version=__version__,
        description="SLIs, ingest (SDK events, OTLP traces) and Prometheus metrics.",
    )
    app.state.control = ControlState(
        config=config,
        engine=engine,
        pipeline=pipeline,
        metrics=metrics,
        clock=clock,
        prices=PriceTable(config.pricing),
        keys=Keys(config.control),
        ingest_limiter=TokenBucketLimiter.from_config(config.control.ingest_limit),
    )
    install_error_handlers(app)
    app.include_router(slis.router)
    app.include_router(slos.router)
    app.include_router(alerts.router)
    app.include_router(ingest.router)
    app.include_router(flags.router)
    app.include_router(releases.router)
    app.include_router(incidents.router)
    app.include_router(status_page.router)
    app.include_router(public.router)
    app.include_router(widget.router)
    app.include_router(feedback.router)
    app.include_router(analytics.router)
    app.include_router(faults.router)
    app.include_router(experiments.router)
    app.include_router(launch.router)
    install_dashboard(app)
    app.add_api_route("/metrics", prometheus_metrics, methods=["GET"], tags=["ops"])
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["ops"])
    return app


def prometheus_metrics(request: Request) -> Response:
    """Prometheus text exposition; open, as scrapers expect."""
    metrics = get_state(request).metrics
    return Response(metrics.render(), media_type=metrics.content_type)


def healthz(request: Request) -> JSONResponse:
    """Liveness and whether the store answers; 503 when it does not."""
    state = get_state(request)
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return JSONResponse(
            {"status": "degraded", "store": f"unreachable: {detail}"}, status_code=503
        )
    pipeline = state.pipeline
    return JSONResponse(
        {
            "status": "ok",
            "store": "ok",
            "events_written": pipeline.written,
            "events_dropped": pipeline.dropped,
        }
    )
