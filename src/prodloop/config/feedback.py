"""User feedback and product analytics: the public ways in, triage, the backlog trackers
and the support channel."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from prodloop.config.base import Secret, StrictModel
from prodloop.config.sections import RateLimit


class PublicIngest(StrictModel):
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="browser origins allowed to call the public endpoints (CORS); "
        "empty: none, '*': any",
    )
    per_ip_limit: RateLimit = Field(
        default_factory=lambda: RateLimit(requests_per_s=20.0, burst=100),
        description="rate limit per client address on the public endpoints (429)",
    )
    max_body_bytes: int = Field(
        1024 * 1024, gt=0, description="largest body on the public endpoints (413 above)"
    )
    max_batch_events: int = Field(
        1000, gt=0, description="most analytics events in one request (413 above)"
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        for value in values:
            if value != "*" and not re.match(r"^https?://[^/\s]+$", value):
                raise ValueError(f"{value!r} is not an origin like https://app.example.com")
        return values


class GitHubTracker(StrictModel):
    repo: str = Field(description="owner/name of the repository issues are created in")
    token: Secret = Field(description="token with issues:write (env reference)")
    api_url: str = Field("https://api.github.com", description="REST API base URL")
    labels: list[str] = Field(
        default_factory=lambda: ["feedback"], description="labels on created issues"
    )

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        if not re.match(r"^[\w.-]+/[\w.-]+$", value):
            raise ValueError("must be owner/name")
        return value


class LinearTracker(StrictModel):
    team_id: str = Field(description="id of the Linear team issues are created in")
    token: Secret = Field(description="Linear API key (env reference)")
    api_url: str = Field("https://api.linear.app/graphql", description="GraphQL endpoint")


class Backlog(StrictModel):
    github: GitHubTracker | None = Field(None, description="GitHub Issues as a backlog")
    linear: LinearTracker | None = Field(None, description="Linear as a backlog")


class Clustering(StrictModel):
    method: Literal["auto", "tfidf", "embeddings"] = Field(
        "auto",
        description="auto: sentence embeddings when prodloop[embeddings] is installed, "
        "TF-IDF otherwise",
    )
    threshold: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="cosine similarity above which two comments group (sentence embeddings)",
    )
    tfidf_threshold: float = Field(
        0.3, gt=0, lt=1, description="the same for TF-IDF vectors, which score paraphrases lower"
    )


class Support(StrictModel):
    notifiers: list[str] = Field(
        default_factory=list,
        description="paging notifiers told about feedback flagged for support",
    )
    categories: list[str] = Field(
        default_factory=lambda: ["bug"],
        description="categories that flag feedback on a failed request for support",
    )


class FeedbackSettings(StrictModel):
    public: PublicIngest = Field(
        default_factory=PublicIngest,
        description="the widget, /ingest/*, PostHog and Amplitude endpoints",
    )
    max_comment_chars: int = Field(5000, gt=0, description="longest comment accepted (400 above)")
    clustering: Clustering = Field(default_factory=Clustering, description="grouping of comments")
    backlog: Backlog = Field(default_factory=Backlog, description="trackers feedback links to")
    support: Support = Field(default_factory=Support, description="the support pipeline")


class AnalyticsSettings(StrictModel):
    retention_days: float = Field(400, gt=0, description="days analytics events are kept")
    rage_click_count: int = Field(
        4, ge=2, description="clicks in one spot within rage_click_window_s that make a rage click"
    )
    rage_click_window_s: float = Field(1.0, gt=0, description="see rage_click_count")
    rage_click_radius: float = Field(
        0.02, gt=0, le=1, description="how close clicks must be (share of the viewport)"
    )
