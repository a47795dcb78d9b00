"""Deploys: what is recorded, and every bad input refused with nothing changed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import select

from prodloop.errors import NotFoundError, ProdloopError, ValidationError
from prodloop.releases.deployments import (
    ConflictError,
    DeployRequest,
    list_deployments,
    probe_upstream,
    register_deployment,
)
from prodloop.releases.routing import check_weights, read_routes
from prodloop.releases.signing import digest, generate_keypair, sign
from prodloop.store.schema import rollouts
from tests.releases.support import START, no_probe, open_store, snapshot
from tests.support import free_port

CANARY = DeployRequest(
    service="chat",
    version="v2",
    upstream="http://127.0.0.1:9/v1/",
    deployed_by="ana",
    api_key_env="V2_KEY",
    git_sha="abc123",
    merged_at=START - 600,
    artifact=b"image bytes",
)


def test_deploy_records_history_and_moves_the_first_step(tmp_path: Path) -> None:
    with open_store(tmp_path) as (config, engine):
        deployment = register_deployment(engine, config, CANARY, START, probe=no_probe)
        assert (deployment.status, deployment.previous_version) == ("rolling_out", "v1")
        assert deployment.git_sha == "abc123" and deployment.deployed_by == "ana"
        assert deployment.artifact_digest is not None
        assert deployment.artifact_digest.startswith("sha256:")
        assert deployment.upstream == "http://127.0.0.1:9/v1"
        routes = {r.version: r for r in read_routes(engine)["chat"]}
        assert (routes["v1"].weight, routes["v1"].role) == (95.0, "stable")
        assert (routes["v2"].weight, routes["v2"].role) == (5.0, "canary")
        assert routes["v2"].api_key_ref == "${V2_KEY}"
        with engine.connect() as conn:
            row = conn.execute(select(rollouts)).mappings().one()
        assert (row["state"], row["weight"], row["hold_s"]) == ("progressing", 5.0, 60.0)
        assert [d.id for d in list_deployments(engine, service="chat")] == [deployment.id]


def _unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"service": "nope"}, NotFoundError, "unknown service 'nope'"),
        ({"version": "v1"}, ConflictError, "already live"),
        ({"version": "bad version!"}, ValidationError, "version"),
        ({"upstream": "ftp://x"}, ValidationError, "http://"),
        ({"steps": [5, 50]}, ValidationError, "last step must be 100"),
        ({"steps": [50, 25, 100]}, ValidationError, "must rise"),
        ({"steps": [0, 100]}, ValidationError, "(0, 100]"),
        ({"hold_s": -1.0}, ValidationError, "negative"),
        ({"api_key_env": "not a name"}, ValidationError, "environment variable"),
        ({"signature": "c2ln", "artifact": None}, ValidationError, "needs the artifact"),
    ],
)
def test_bad_deploys_are_refused_and_change_nothing(
    tmp_path: Path, changes: dict[str, object], error: type[ProdloopError], words: str
) -> None:
    with open_store(tmp_path) as (config, engine):
        before = snapshot(engine)
        with pytest.raises(error) as refused:
            register_deployment(
                engine, config, dataclasses.replace(CANARY, **changes), START, probe=no_probe
            )
        assert words in str(refused.value)
        assert snapshot(engine) == before


def test_unreachable_upstream_is_refused_before_any_traffic_moves(tmp_path: Path) -> None:
    with open_store(tmp_path) as (config, engine):
        before = snapshot(engine)
        request = dataclasses.replace(CANARY, upstream=_unreachable())
        with pytest.raises(ValidationError) as refused:
            register_deployment(engine, config, request, START, probe=probe_upstream)
        assert refused.value.field == "upstream"
        assert "does not answer" in refused.value.message
        assert snapshot(engine) == before


def test_a_second_concurrent_rollout_is_refused(tmp_path: Path) -> None:
    with open_store(tmp_path) as (config, engine):
        register_deployment(engine, config, CANARY, START, probe=no_probe)
        before = snapshot(engine)
        with pytest.raises(ConflictError) as refused:
            register_deployment(
                engine, config, dataclasses.replace(CANARY, version="v3"), START, probe=no_probe
            )
        assert "under way" in refused.value.message
        assert snapshot(engine) == before
        # another service is free to deploy meanwhile
        other = dataclasses.replace(CANARY, service="search", version="s2")
        assert register_deployment(engine, config, other, START, probe=no_probe).id > 0


def test_signatures_are_checked_when_the_service_requires_them(tmp_path: Path) -> None:
    private_key, public_key = generate_keypair()
    _, other_public_key = generate_keypair()
    with open_store(tmp_path, require_signed=True) as (config, engine):
        before = snapshot(engine)
        with pytest.raises(ValidationError, match="requires signed artifacts"):
            register_deployment(
                engine, config, CANARY, START, probe=no_probe, public_key=public_key
            )
        signed = dataclasses.replace(CANARY, signature=sign(b"image bytes", private_key))
        with pytest.raises(ValidationError, match="does not verify"):
            register_deployment(
                engine, config, signed, START, probe=no_probe, public_key=other_public_key
            )
        with pytest.raises(ValidationError, match="PRODLOOP_SIGNING_PUBLIC_KEY"):
            register_deployment(engine, config, signed, START, probe=no_probe)
        assert snapshot(engine) == before
        deployment = register_deployment(
            engine, config, signed, START, probe=no_probe, public_key=public_key
        )
        assert deployment.is_signature_verified
        assert deployment.artifact_digest == digest(b"image bytes")


@pytest.mark.parametrize(
    ("weights", "words"),
    [
        ({"v1": 60.0, "v2": 30.0}, "sum to 100, not 90"),
        ({"v1": 110.0, "v2": -10.0}, "≥ 0"),
        ({}, "no weights"),
    ],
)
def test_weights_must_sum_to_100(weights: dict[str, float], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        check_weights(weights, {"v1": None, "v2": None})
    with pytest.raises(NotFoundError):
        check_weights({"v9": 100.0}, {"v1": None})
