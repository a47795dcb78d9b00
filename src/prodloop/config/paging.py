"""Who gets paged and how: notifiers, people, on-call schedules, escalation and routing."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from prodloop.config.base import Duration, FieldError, Secret, StrictModel, TimeZone

NotifierKind = Literal["slack", "pagerduty", "webhook", "console"]


class Notifier(StrictModel):
    """A channel alerts are delivered on."""

    kind: NotifierKind = Field(description="slack | pagerduty | webhook | console")
    url: Secret | None = Field(
        None, description="slack, webhook: the URL to post to (env reference: it is a secret)"
    )
    routing_key: Secret | None = Field(
        None, description="pagerduty: the integration's routing key (env reference)"
    )
    events_url: str = Field(
        "https://events.pagerduty.com/v2/enqueue", description="pagerduty: Events API v2 URL"
    )
    max_attempts: int = Field(5, ge=1, le=20, description="delivery attempts before giving up")

    @field_validator("events_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' is not an http(s) URL")
        return value

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Notifier:
        if self.kind in ("slack", "webhook") and self.url is None:
            raise ValueError(f"a {self.kind} notifier needs 'url'")
        if self.kind == "pagerduty" and self.routing_key is None:
            raise ValueError("a pagerduty notifier needs 'routing_key'")
        return self


class Person(StrictModel):
    notify: list[str] = Field(default_factory=list, description="notifiers this person is paged on")
    email: str | None = Field(None, description="shown in schedules and notifications")


def parse_local_time(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is naive (read in the schedule's time zone)."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"'{text}' is not an ISO 8601 time (e.g. 2026-03-02T09:00)") from exc


class Override(StrictModel):
    person: str = Field(description="who is on call instead")
    start: str = Field(
        description="ISO 8601 start of the override (the schedule's time zone without an offset)"
    )
    end: str = Field(description="ISO 8601 end of the override")

    @field_validator("start", "end")
    @classmethod
    def _iso_time(cls, value: str) -> str:
        parse_local_time(value)
        return value

    @model_validator(mode="after")
    def _ends_after_start(self) -> Override:
        start, end = parse_local_time(self.start), parse_local_time(self.end)
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise FieldError("give both start and end with an offset, or neither", "end")
        if end <= start:
            raise FieldError("the override must end after it starts", "end")
        return self


class Schedule(StrictModel):
    """A rotation over people: each takes a day or a week, handing off at `handoff`."""

    rotation: Literal["daily", "weekly"] = Field("weekly", description="daily | weekly")
    people: list[str] = Field(min_length=1, description="who rotates, in order")
    start: date = Field(date(2026, 1, 5), description="first day of the rotation")
    handoff: str = Field("09:00", description="local time of the handoff, HH:MM")
    timezone: TimeZone = Field("UTC", description="time zone of the handoff")
    overrides: list[Override] = Field(
        default_factory=list, description="someone else on call for a while"
    )

    @field_validator("handoff")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        hours, _, minutes = value.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError(f"'{value}' is not a time of day (HH:MM)")
        return value


class EscalationLevel(StrictModel):
    targets: list[str] = Field(
        min_length=1, description="schedule:NAME or person:NAME paged at this level"
    )
    after: Duration = Field(
        "15m", description="wait this long without acknowledgement before the next level"
    )


class EscalationPolicy(StrictModel):
    levels: list[EscalationLevel] = Field(min_length=1, description="paged in order")
    repeat: int = Field(2, ge=0, le=10, description="times the whole policy repeats")


class Route(StrictModel):
    """Which notifiers receive which alerts, matched on labels (like Alertmanager routes)."""

    match: dict[str, str] = Field(
        default_factory=dict, description="labels an alert must have (service, severity, slo…)"
    )
    notifiers: list[str] = Field(
        default_factory=list, description="notifiers that receive matching alerts"
    )
    escalation_policy: str | None = Field(
        None, description="policy whose on-call people are paged for matching alerts"
    )
    group_by: list[str] = Field(
        default_factory=lambda: ["service", "alertname"], description="labels grouped into one"
    )
    repeat_interval: Duration = Field(
        "4h", description="re-send a still-firing, unacknowledged alert this often"
    )
    send_resolved: bool = Field(True, description="notify when the alert resolves")


class Paging(StrictModel):
    notifiers: dict[str, Notifier] = Field(
        default_factory=lambda: {"console": Notifier(kind="console")},
        description="delivery channels by name",
    )
    people: dict[str, Person] = Field(default_factory=dict, description="who can be paged")
    schedules: dict[str, Schedule] = Field(
        default_factory=dict, description="on-call rotations by name"
    )
    escalation_policies: dict[str, EscalationPolicy] = Field(
        default_factory=dict, description="escalation policies by name"
    )
    routes: list[Route] = Field(
        default_factory=lambda: [Route(notifiers=["console"])],
        description="first matching route wins",
    )
    ack_link_ttl: Duration = Field("24h", description="how long a signed acknowledge link works")
    signing_key: Secret | None = Field(
        None, description="key that signs acknowledge links (env reference)"
    )
    public_url: str = Field(
        "http://127.0.0.1:8765", description="control plane URL used in links sent out"
    )
    retry_backoff: Duration = Field(
        "30s", description="wait before the first retry of a failed delivery; doubles each time"
    )
    retry_max_backoff: Duration = Field("15m", description="longest wait between two retries")
    http_timeout_s: float = Field(
        10.0, gt=0, le=120, description="timeout of one delivery to Slack, PagerDuty or a webhook"
    )
    retention_days: float = Field(
        90, gt=0, description="days sent and failed deliveries and their attempts are kept"
    )

    @model_validator(mode="after")
    def _references_exist(self) -> Paging:
        for name, person in self.people.items():
            for i, notifier in enumerate(person.notify):
                if notifier not in self.notifiers:
                    raise FieldError(f"unknown notifier '{notifier}'", "people", name, "notify", i)
        for name, schedule in self.schedules.items():
            for i, member in enumerate(schedule.people):
                if member not in self.people:
                    raise FieldError(f"unknown person '{member}'", "schedules", name, "people", i)
            for i, override in enumerate(schedule.overrides):
                if override.person not in self.people:
                    raise FieldError(
                        f"unknown person '{override.person}'",
                        "schedules",
                        name,
                        "overrides",
                        i,
                        "person",
                    )
        known_targets = {f"schedule:{n}" for n in self.schedules} | {
            f"person:{n}" for n in self.people
        }
        for name, policy in self.escalation_policies.items():
            for i, level in enumerate(policy.levels):
                for j, target in enumerate(level.targets):
                    if target not in known_targets:
                        raise FieldError(
                            f"unknown target '{target}' (use schedule:NAME or person:NAME)",
                            *("escalation_policies", name, "levels", i, "targets", j),
                        )
        for i, route in enumerate(self.routes):
            if not route.notifiers and route.escalation_policy is None:
                raise FieldError(
                    "this route pages nobody: give it notifiers or an escalation_policy",
                    "routes",
                    i,
                    "notifiers",
                )
            for j, notifier in enumerate(route.notifiers):
                if notifier not in self.notifiers:
                    raise FieldError(f"unknown notifier '{notifier}'", "routes", i, "notifiers", j)
            policy_name = route.escalation_policy
            if policy_name is not None and policy_name not in self.escalation_policies:
                raise FieldError(
                    f"unknown escalation policy '{policy_name}'", "routes", i, "escalation_policy"
                )
        self._pageable_people_have_notifiers()
        return self

    def _pageable_people_have_notifiers(self) -> None:
        # A person who can be put on call but has no channel would be a page dropped silently.
        for name, schedule in self.schedules.items():
            for i, member in enumerate(schedule.people):
                if member in self.people and not self.people[member].notify:
                    raise FieldError(
                        f"person '{member}' is on call here but has no notifiers (people.{member}"
                        ".notify)",
                        *("schedules", name, "people", i),
                    )
            for i, override in enumerate(schedule.overrides):
                member = override.person
                if member in self.people and not self.people[member].notify:
                    raise FieldError(
                        f"person '{member}' has no notifiers (people.{member}.notify)",
                        *("schedules", name, "overrides", i, "person"),
                    )
        for name, policy in self.escalation_policies.items():
            for i, level in enumerate(policy.levels):
                for j, target in enumerate(level.targets):
                    kind, _, member = target.partition(":")
                    if (
                        kind == "person"
                        and member in self.people
                        and not self.people[member].notify
                    ):
                        raise FieldError(
                            f"person '{member}' has no notifiers (people.{member}.notify)",
                            *("escalation_policies", name, "levels", i, "targets", j),
                        )
