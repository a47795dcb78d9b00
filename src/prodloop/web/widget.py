"""The feedback widget served at /widget.js.

One script tag on a customer's page loads it from the control plane, so the response is
built to be fetched cross-origin (CORP and CORS headers) and revalidated cheaply (an ETag
over the file's bytes and a short max-age, so a new release reaches browsers within minutes).
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request, Response

from prodloop.api.caching import etag_matches

router = APIRouter(tags=["widget"])

MAX_AGE_S = 300
MEDIA_TYPE = "text/javascript; charset=utf-8"


@cache
def widget_script() -> tuple[bytes, str]:
    """The widget's bytes and their ETag, read once from the package."""
    body = resources.files("prodloop.web").joinpath("static/widget.js").read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


@router.api_route("/widget.js", methods=["GET", "HEAD"], include_in_schema=False)
def widget_js(request: Request) -> Response:
    """The widget script: public, cacheable, loadable from any origin."""
    body, etag = widget_script()
    headers = {
        "Cache-Control": f"public, max-age={MAX_AGE_S}",
        "ETag": etag,
        # A page with COEP: require-corp needs CORP to embed it; CORS lets a page load it
        # with crossorigin= (for Subresource Integrity).
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MEDIA_TYPE, headers=headers)
