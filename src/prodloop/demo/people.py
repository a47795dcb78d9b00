"""The launch demo's simulated users: visits, questions, analytics events and feedback.

Each person visits (a `$pageview`), signs up on their first visit (`signup`), asks
questions through the gateway, records `first_question` (the success metric) the first
time an answer comes back, and now and then gives a thumbs up (`thumbs_up`). Their
analytics go out in PostHog-like events to `/ingest/events`; `feedback_for` turns what
they saw into `/ingest/feedback` submissions tied to the request's id.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prodloop.demo.traffic import PROMPTS, Call, Outcome

# What users write when an answer failed them on the regressed version, and when it did not.
COMPLAINTS = (
    "The assistant returned an error twice in a row, I could not get an answer.",
    "Got 'something went wrong' on every question since this morning.",
    "Errors again when asking about refunds, very frustrating.",
    "The answer never came back, just an error message.",
)
PRAISE = (
    "Quick and to the point, exactly what I needed.",
    "Loved the summary of the release notes.",
    "Helpful answer, saved me a support ticket.",
)
IDEAS = (
    "Please let me export a conversation as Markdown.",
    "It would be great if it remembered my previous question.",
)


@dataclass
class Person:
    """One simulated user of the app."""

    name: str
    is_beta: bool = False
    has_signed_up: bool = False
    has_asked: bool = False


class Crowd:
    """Everybody the demo simulates, with a seeded random source so runs tell one story."""

    def __init__(self, size: int, beta: int, *, seed: int = 11) -> None:
        self.rnd = random.Random(seed)
        self.people = [Person(f"beta-{i + 1:02d}", is_beta=True) for i in range(beta)]
        self.people += [Person(f"user-{i + 1:02d}") for i in range(size - beta)]
        self.by_name = {person.name: person for person in self.people}

    @property
    def beta(self) -> list[Person]:
        return [person for person in self.people if person.is_beta]

    def pick(self, count: int, *, among: Sequence[Person] | None = None) -> list[Person]:
        pool = list(among if among is not None else self.people)
        return self.rnd.sample(pool, min(count, len(pool)))

    def calls(self, people: Sequence[Person], per_person: int) -> list[Call]:
        """The questions `people` ask in one visit, interleaved as they would arrive."""
        calls = [
            Call(person.name, self.rnd.choice(PROMPTS))
            for person in people
            for _ in range(per_person)
        ]
        self.rnd.shuffle(calls)
        return calls

    def visit_events(self, people: Sequence[Person], now: float) -> list[dict[str, Any]]:
        """A pageview for each visitor, and a signup the first time."""
        events = []
        for person in people:
            session = uuid.uuid4().hex[:16]
            events.append(_event("$pageview", person.name, now - 30, session, path="/"))
            if not person.has_signed_up:
                person.has_signed_up = True
                events.append(_event("signup", person.name, now - 20, session, path="/signup"))
        return events

    def answer_events(
        self, outcomes: Sequence[Outcome], now: float, *, thumbs_up_rate: float = 0.2
    ) -> list[dict[str, Any]]:
        """`first_question` for a first answered question, `thumbs_up` now and then."""
        events = []
        for outcome in outcomes:
            if outcome.status != 200:
                continue
            person = self.by_name[outcome.user]
            extra = {"version": outcome.version}
            if not person.has_asked:
                person.has_asked = True
                events.append(_event("first_question", person.name, now, None, extra))
            if self.rnd.random() < thumbs_up_rate:
                events.append(_event("thumbs_up", person.name, now, None, extra))
        return events

    def feedback_for(
        self, outcome: Outcome, *, is_negative: bool, comment: str | None = None
    ) -> dict[str, Any]:
        """A submission about the answer (or error) `outcome` brought back."""
        item: dict[str, Any] = {
            "id": f"demo-{uuid.uuid4().hex[:20]}",
            "rating": "down" if is_negative else "up",
            "user_id": outcome.user,
            "page": "/chat",
        }
        if outcome.request_id:
            item["trace_id"] = outcome.request_id
        text = comment or self.rnd.choice(COMPLAINTS if is_negative else PRAISE)
        item["comment"] = text
        item["category"] = "bug" if is_negative else "answer_quality"
        return item

    def idea(self, user: str, text: str) -> dict[str, Any]:
        """A feature request without a rating."""
        return {
            "id": f"demo-{uuid.uuid4().hex[:20]}",
            "comment": text,
            "category": "idea",
            "user_id": user,
            "page": "/chat",
        }


def _event(
    name: str,
    user: str,
    ts: float,
    session: str | None,
    properties: dict[str, Any] | None = None,
    *,
    path: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": name,
        "distinct_id": user,
        "timestamp": ts,
        "uuid": str(uuid.uuid4()),
        "properties": properties or {},
    }
    if session is not None:
        event["session_id"] = session
    if path is not None:
        event["path"] = path
    return event
