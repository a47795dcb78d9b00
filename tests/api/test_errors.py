"""Errors from any route share one JSON shape, and FastAPI's own 422s name the field."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from prodloop.api.errors import install_error_handlers
from prodloop.errors import NotFoundError


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/items/{item_id}")
    def item(item_id: int, limit: int = 10) -> dict[str, int]:
        if item_id == 404:
            raise NotFoundError("no such item", field="item_id")
        if item_id == 500:
            raise RuntimeError("a bug")
        return {"item_id": item_id, "limit": limit}

    return app


def test_fastapi_validation_errors_are_reshaped() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/items/1", params={"limit": "many"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "limit"
    assert "integer" in error["message"]


def test_prodloop_errors_keep_their_status_and_unknown_paths_are_json() -> None:
    with TestClient(make_app()) as client:
        missing = client.get("/items/404")
        nowhere = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"message": "no such item", "field": "item_id"}}
    assert nowhere.status_code == 404
    assert nowhere.json() == {"error": {"message": "Not Found", "field": None}}


def test_a_bug_is_a_json_500_without_details() -> None:
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        response = client.get("/items/500")
    assert response.status_code == 500
    assert response.json() == {"error": {"message": "internal error", "field": None}}
