"""A bounded burst of OpenAI-style traffic against the gateway, for the demo and drills."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

PROMPTS = (
    "Summarise the release notes for version 2.3 in three bullet points.",
    "Explain the difference between p95 and p99 latency to a new engineer.",
    "Draft a friendly reply to a customer asking about the refund policy.",
    "Translate 'the deploy finished without downtime' into French.",
    "List three risks of shipping a canary release on a Friday.",
)
PII_PROMPT = "Please email the invoice to jane.doe@example.com and call +1 415 555 0100."


@dataclass(frozen=True)
class TrafficPlan:
    """What to send: how many requests, how many at once, and the mix."""

    requests: int = 300
    concurrency: int = 12
    stream_share: float = 0.5
    embeddings_share: float = 0.1
    pii_share: float = 0.04
    oversize_share: float = 0.02
    users: int = 40
    model: str = "gpt-4o-mini"
    oversize_chars: int = 200_000
    seed: int = 7


@dataclass
class TrafficResult:
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0  # transport errors seen by the client

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + self.failures


def _request(plan: TrafficPlan, rnd: random.Random) -> tuple[str, dict[str, object]]:
    user = f"user-{rnd.randrange(plan.users)}"
    roll = rnd.random()
    if roll < plan.embeddings_share:
        return "/embeddings", {"model": "text-embedding-3-small", "input": rnd.choice(PROMPTS)}
    roll = rnd.random()
    if roll < plan.oversize_share:
        prompt = "x" * plan.oversize_chars
    elif roll < plan.oversize_share + plan.pii_share:
        prompt = PII_PROMPT
    else:
        prompt = rnd.choice(PROMPTS)
    body: dict[str, object] = {
        "model": plan.model,
        "messages": [{"role": "user", "content": prompt}],
        "user": user,
    }
    if rnd.random() < plan.stream_share:
        body["stream"] = True
    return "/chat/completions", body


async def _send_one(
    client: httpx.AsyncClient, path: str, body: dict[str, object], result: TrafficResult
) -> None:
    try:
        if body.get("stream"):
            async with client.stream("POST", path, json=body) as response:
                async for _ in response.aiter_bytes():
                    pass
                result.statuses[response.status_code] += 1
        else:
            response = await client.post(path, json=body)
            result.statuses[response.status_code] += 1
    except httpx.HTTPError:
        result.failures += 1


async def send_burst(
    base_url: str,
    key: str,
    plan: TrafficPlan,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> TrafficResult:
    """Send plan.requests requests with plan.concurrency in flight; never more, then stop."""
    rnd = random.Random(plan.seed)
    requests = [_request(plan, rnd) for _ in range(plan.requests)]
    result = TrafficResult()
    queue: asyncio.Queue[tuple[str, dict[str, object]]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    done = 0
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(
        max_connections=plan.concurrency, max_keepalive_connections=plan.concurrency
    )
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30.0
    ) as client:

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                path, body = queue.get_nowait()
                await _send_one(client, path, body, result)
                done += 1
                if on_progress is not None:
                    on_progress(done, plan.requests)

        await asyncio.gather(*(worker() for _ in range(plan.concurrency)))
    return result


@dataclass(frozen=True, slots=True)
class Call:
    """One chat request a simulated user sends through the gateway."""

    user: str
    prompt: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the user got back: the status, and the version and request id the gateway named."""

    user: str
    status: int  # 0: the request failed before any answer
    version: str
    request_id: str


def gateway_client(base_url: str, key: str, concurrency: int) -> httpx.AsyncClient:
    """A client of the gateway with a service's key, pooling `concurrency` connections."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {key}"},
        limits=limits,
        timeout=30.0,
    )


async def send_calls(
    client: httpx.AsyncClient, calls: list[Call], *, concurrency: int, model: str = "gpt-4o-mini"
) -> list[Outcome]:
    """Send each call with its user in `x-prodloop-user`, `concurrency` in flight at once."""
    outcomes: list[Outcome] = []
    pending = iter(calls)

    async def worker() -> None:
        for call in pending:
            body = {"model": model, "messages": [{"role": "user", "content": call.prompt}]}
            try:
                response = await client.post(
                    "/chat/completions", json=body, headers={"x-prodloop-user": call.user}
                )
            except httpx.HTTPError:
                outcomes.append(Outcome(call.user, 0, "", ""))
                continue
            outcomes.append(
                Outcome(
                    call.user,
                    response.status_code,
                    response.headers.get("x-prodloop-version", ""),
                    response.headers.get("x-prodloop-request-id", ""),
                )
            )

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(calls))))))
    return outcomes
