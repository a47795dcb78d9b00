from __future__ import annotations

import random
from collections import Counter

import pytest

from prodloop.config import Config, SecretRef
from prodloop.gateway.replies import GatewayRefusal
from prodloop.gateway.routing import Directory, choose_version, split_service_prefix


def test_single_version_always_wins() -> None:
    assert choose_version({"stable": 100.0, "canary": 0.0}, "u", random.Random(1)) == "stable"
    with pytest.raises(ValueError):
        choose_version({"a": 0.0}, None, random.Random(1))


def test_sticky_users_keep_their_version() -> None:
    weights = {"stable": 90.0, "canary": 10.0}
    rnd = random.Random(1)
    for i in range(200):
        first = choose_version(weights, f"user-{i}", rnd)
        assert all(choose_version(weights, f"user-{i}", rnd) == first for _ in range(5))


@pytest.mark.parametrize("sticky", [True, False])
def test_shares_follow_weights(sticky: bool) -> None:
    weights = {"stable": 70.0, "canary": 20.0, "shadow": 10.0}
    rnd = random.Random(7)
    n = 20_000
    counts = Counter(choose_version(weights, f"u{i}" if sticky else None, rnd) for i in range(n))
    for name, weight in weights.items():
        assert counts[name] / n == pytest.approx(weight / 100, abs=0.015)


def test_raising_a_weight_only_moves_users_onto_it() -> None:
    before = {"stable": 95.0, "canary": 5.0}
    after = {"stable": 75.0, "canary": 25.0}
    rnd = random.Random(3)
    for i in range(2000):
        user = f"user-{i}"
        if choose_version(before, user, rnd) == "canary":
            assert choose_version(after, user, rnd) == "canary"


def _secret(value: str) -> SecretRef:
    return SecretRef(ref="${K}", value=value)


def _directory(**gateway: object) -> Directory:
    upstream = {"v1": {"upstream": "http://127.0.0.1:1/v1"}}
    config = Config.model_validate(
        {
            "gateway": {"keys": [_secret("global")], **gateway},
            "services": {
                "chat": {"stable": "v1", "versions": upstream, "keys": [_secret("chat-key")]},
                "search": {"stable": "v1", "versions": upstream, "keys": [_secret("search-key")]},
            },
        }
    )
    return Directory(config)


def test_resolution_by_key_prefix_and_default() -> None:
    directory = _directory(default_service="chat")
    target, path = directory.resolve("search-key", "/v1/chat/completions")
    assert (target.name, path) == ("search", "/v1/chat/completions")
    target, path = directory.resolve("global", "/s/search/v1/embeddings")
    assert (target.name, path) == ("search", "/v1/embeddings")
    assert directory.resolve("global", "/v1/models")[0].name == "chat"
    assert directory.resolve("chat-key", "/s/chat/v1/models")[0].name == "chat"


@pytest.mark.parametrize(
    ("key", "path", "status", "words"),
    [
        (None, "/v1/models", 401, "no gateway key"),
        ("wrong", "/v1/models", 401, "not valid"),
        ("chat-key", "/s/search/v1/models", 403, "belongs to service 'chat'"),
        ("global", "/s/nope/v1/models", 404, "'nope'"),
        ("global", "/v1/models", 404, "default_service"),
    ],
)
def test_refusals(key: str | None, path: str, status: int, words: str) -> None:
    with pytest.raises(GatewayRefusal) as refused:
        _directory().resolve(key, path)
    assert refused.value.status_code == status
    assert words in refused.value.message


def test_keys_optional_when_not_required() -> None:
    directory = _directory(require_key=False, default_service="search")
    assert directory.resolve(None, "/v1/models")[0].name == "search"


def test_split_service_prefix() -> None:
    assert split_service_prefix("/s/a/v1/x") == ("a", "/v1/x")
    assert split_service_prefix("/s/a") == ("a", "/")
    assert split_service_prefix("/v1/x") == (None, "/v1/x")


def test_upstream_url_keeps_path_after_v1_and_query() -> None:
    target = _directory().services["chat"].versions["v1"]
    url = target.url_for("/v1/files/f-1/content", "a=1&b=%20")
    assert url == "http://127.0.0.1:1/v1/files/f-1/content?a=1&b=%20"
    assert target.url_for("/health", "") == "http://127.0.0.1:1/v1/health"
