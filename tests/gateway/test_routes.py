from __future__ import annotations

import pytest

from prodloop.gateway.routes import OTHER_ROUTE, RouteLabels, normalise_route


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/v1/chat/completions/", "/v1/chat/completions"),
        ("/v1/embeddings", "/v1/embeddings"),
        ("/v1/responses/resp_67ccd2bed1ec8190b14f964abc0542670", "/v1/responses/{id}"),
        ("/v1/responses/resp_abc123/input_items", "/v1/responses/{id}/input_items"),
        ("/v1/files/file-abc123/content", "/v1/files/{id}/content"),
        ("/v1/models/gpt-4o-mini", "/v1/models/{id}"),
        ("/v1/batches/42/cancel", "/v1/batches/{id}/cancel"),
        ("/v1/threads/6f9619ff-8b86-d011-b42d-00c04fc964ff/runs", "/v1/threads/{id}/runs"),
        ("/v2beta/models", "/v2beta/models"),
        ("/", "/"),
    ],
)
def test_normalise_route(path: str, route: str) -> None:
    assert normalise_route(path) == route


def test_labels_are_capped() -> None:
    labels = RouteLabels(max_routes=3)
    assert labels("/v1/a") == "/v1/a"
    assert labels("/v1/b") == "/v1/b"
    assert labels("/v1/c") == "/v1/c"
    assert labels("/v1/d") == OTHER_ROUTE
    assert labels("/v1/a") == "/v1/a"  # known labels stay
    assert labels("/v1/files/file-1") == OTHER_ROUTE
