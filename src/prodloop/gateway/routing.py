"""Which service and version a request goes to.

A request names its service by the gateway key it carries, by a ``/s/{service}`` path
prefix, or falls to the default service. Within a service, a version is chosen by
weight, sticky per user: the same user keeps landing on the same version.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from prodloop.config import Config, Service, Version
from prodloop.gateway.metering import provider_for_url
from prodloop.gateway.replies import GatewayRefusal

SERVICE_PREFIX = "/s/"
_GLOBAL = ""  # marks a gateway key valid for every service


def split_service_prefix(path: str) -> tuple[str | None, str]:
    """("svc", "/v1/x") for "/s/svc/v1/x"; (None, path) when there is no prefix."""
    if not path.startswith(SERVICE_PREFIX):
        return None, path
    end = path.find("/", 3)
    if end < 0:
        return path[3:], "/"
    return path[3:end], path[end:]


def sticky_point(sticky_key: str, salt: str) -> float:
    """A stable point in (0, 1) for a user and a salt (the version name).

    Frozen: BLAKE2b with an 8-byte digest, no key and no personalisation, over the UTF-8
    bytes of ``salt + "\\0" + sticky_key``; the digest read big-endian, plus 0.5, over 2**64.
    There is no other seed. tests/releases/routing_vectors.json holds test vectors.
    """
    digest = hashlib.blake2b(f"{salt}\0{sticky_key}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def choose_version(weights: Mapping[str, float], sticky_key: str | None, rnd: random.Random) -> str:
    """Pick a version with probability proportional to its weight (weights ≤ 0 never win).

    With a sticky key the choice is weighted rendezvous hashing: a user keeps their
    version while weights stay put, and raising one version's weight only moves users
    onto it, never between the others (what a canary ramp needs). Without one, `rnd`
    decides.
    """
    live = [(name, weight) for name, weight in weights.items() if weight > 0]
    if not live:
        raise ValueError("no version has a positive weight")
    if len(live) == 1:
        return live[0][0]
    if sticky_key is None:
        live.sort()
        point = rnd.random() * sum(weight for _, weight in live)
        for name, weight in live:
            point -= weight
            if point < 0:
                return name
        return live[-1][0]
    best_name, best_score = live[0][0], -math.inf
    for name, weight in live:
        score = weight / -math.log(sticky_point(sticky_key, name))
        if score > best_score:
            best_name, best_score = name, score
    return best_name


@dataclass(frozen=True, slots=True)
class VersionTarget:
    """A version ready to proxy to: base URL and the headers the gateway adds."""

    service: str
    name: str
    base_url: str  # e.g. http://host:port/v1, no trailing slash
    headers: tuple[tuple[str, str], ...]  # provider Authorization and the version's headers
    provider: str

    @classmethod
    def build(cls, service: str, name: str, version: Version) -> VersionTarget:
        """Precompute what every request to this version needs."""
        key = version.api_key.get() if version.api_key is not None else None
        # The provider key wins over an Authorization header configured by hand.
        headers = [
            (k, v) for k, v in version.headers.items() if not (key and k.lower() == "authorization")
        ]
        if key:
            headers.insert(0, ("Authorization", f"Bearer {key}"))
        return cls(
            service, name, version.upstream, tuple(headers), provider_for_url(version.upstream)
        )

    def url_for(self, path: str, query: str) -> str:
        """Upstream URL of a gateway path: "/v1/chat/completions" → base + "/chat/completions"."""
        if path.startswith("/v1/") or path == "/v1":
            path = path[3:]
        url = self.base_url + path
        return f"{url}?{query}" if query else url


class ServiceTarget:
    """A service's versions and their current traffic weights."""

    __slots__ = ("_only", "name", "versions", "weights")

    def __init__(self, name: str, service: Service) -> None:
        self.name = name
        self.versions = {
            v: VersionTarget.build(name, v, ver) for v, ver in service.versions.items()
        }
        # Only the stable version takes traffic until canaries set weights.
        self.set_weights({service.stable: 1.0})

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Replace the traffic weights (names must be versions of this service)."""
        unknown = [v for v in weights if v not in self.versions]
        if unknown:
            raise ValueError(f"service '{self.name}' has no version named {unknown[0]!r}")
        live = {v: float(w) for v, w in weights.items() if w > 0}
        if not live:
            raise ValueError(f"service '{self.name}' needs a version with a positive weight")
        self.weights = live
        self._only = self.versions[next(iter(live))] if len(live) == 1 else None

    def add_version(self, target: VersionTarget) -> None:
        """Register (or replace) a version deployed at run time; new requests may use it."""
        # A new dict, swapped in whole, so a request mid-lookup never sees it half-built.
        self.versions = {**self.versions, target.name: target}
        if self._only is not None and self._only.name == target.name:
            self._only = target

    def choose(self, user: str | None, rnd: random.Random) -> VersionTarget:
        """The version this request goes to."""
        if self._only is not None:
            return self._only
        return self.versions[choose_version(self.weights, user, rnd)]


class Directory:
    """Resolves a request's service from its key and path; built once per app."""

    def __init__(self, config: Config) -> None:
        self.services = {name: ServiceTarget(name, svc) for name, svc in config.services.items()}
        self.default = config.gateway.default_service
        self.require_key = config.gateway.require_key
        self._keys: dict[str, str] = {}
        for ref in config.gateway.keys:
            value = ref.get()
            if value:
                self._keys[value] = _GLOBAL
        for name, svc in config.services.items():
            for ref in svc.keys:
                value = ref.get()
                if value:
                    self._keys[value] = name

    def resolve(self, key: str | None, path: str) -> tuple[ServiceTarget, str]:
        """The service and the path to forward (without any /s/{service} prefix).

        Refuses with 401 (no or unknown key when keys are required), 404 (no such
        service) or 403 (a service's key used for another service).
        """
        named, path = split_service_prefix(path)
        owner = self._keys.get(key) if key else None
        if owner is None and self.require_key:
            if key:
                raise _unauthorized("the gateway key is not valid", "invalid_api_key")
            raise _unauthorized(
                "no gateway key: send it as 'Authorization: Bearer <key>' or an 'api-key' header",
                "missing_api_key",
            )
        if named is None:
            name = owner or self.default
            if name is None:
                raise GatewayRefusal(
                    404,
                    "no service named: call /s/{service}/v1/… or set gateway.default_service",
                    error_class="bad_request",
                    code="service_not_found",
                )
        else:
            name = named
        target = self.services.get(name)
        if target is None:
            raise GatewayRefusal(
                404,
                f"no service named '{name}' is configured",
                error_class="bad_request",
                code="service_not_found",
            )
        if owner and owner != name:
            raise GatewayRefusal(
                403,
                f"this gateway key belongs to service '{owner}', not '{name}'",
                error_class="unauthorized",
                code="wrong_service",
            )
        return target, path


def _unauthorized(message: str, code: str) -> GatewayRefusal:
    return GatewayRefusal(401, message, error_class="unauthorized", code=code)
