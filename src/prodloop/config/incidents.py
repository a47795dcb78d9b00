"""How incidents run: severity, mitigation, the status-update deadline and post-mortems."""

from __future__ import annotations

import string
from typing import Literal

from pydantic import Field, field_validator, model_validator

from prodloop.config.base import Duration, StrictModel, duration_s

# Placeholders the templated "investigating" update may use.
TEMPLATE_FIELDS = frozenset({"service", "title", "id", "severity"})


class Incidents(StrictModel):
    mitigation: Literal["auto", "suggest"] = Field(
        "suggest",
        description="a deployment live within recent_deploy_window: auto rolls back, suggest "
        "proposes it on the timeline",
    )
    rollback_rollouts: bool = Field(
        True, description="an incident on a service with a rollout under way rolls it back"
    )
    recent_deploy_window: Duration = Field(
        "30m", description="a deployment live this long before detection is a suspect"
    )
    reminder_after: Duration = Field(
        "10m", description="remind the owner when no status update was posted this long"
    )
    update_deadline: Duration = Field(
        "15m", description="a public status update is due this long after detection"
    )
    deadline_policy: Literal["escalate", "post_template"] = Field(
        "post_template",
        description="at the deadline: page the next escalation level, or post the template",
    )
    template_message: str = Field(
        "We are investigating a problem affecting {service}. We will post an update as soon "
        "as we know more.",
        description="the templated 'investigating' update ({service}, {title}, {id}, {severity})",
    )
    template_by: str = Field("prodloop", description="author shown on the templated update")
    impact_window: Duration = Field(
        "5m", description="window before detection the share of affected traffic is read over"
    )
    sev1_traffic_share: float = Field(
        0.25, gt=0, le=1, description="a page affecting at least this share of traffic is SEV1"
    )
    sev2_traffic_share: float = Field(
        0.05, gt=0, le=1, description="a ticket alert affecting at least this share is SEV2"
    )
    postmortem_dir: str = Field(
        "ops/postmortems", description="where `prodloop postmortem draft` writes"
    )

    @field_validator("template_message")
    @classmethod
    def _known_template_fields(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the template must not be empty")
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name}
        except ValueError as exc:
            raise ValueError(f"not a valid template: {exc}") from exc
        unknown = names - TEMPLATE_FIELDS
        if unknown:
            known = ", ".join(sorted(TEMPLATE_FIELDS))
            raise ValueError(f"unknown template field {sorted(unknown)[0]!r} (use {known})")
        return value

    @model_validator(mode="after")
    def _reminder_before_deadline(self) -> Incidents:
        if duration_s(self.reminder_after) >= duration_s(self.update_deadline):
            raise ValueError("reminder_after must be shorter than update_deadline")
        return self
