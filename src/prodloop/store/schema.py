"""Every table prodloop keeps, in one place. Migrations are generated against this."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id_column() -> Column[int]:
    # SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit id.
    return Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )


# Raw events, kept for telemetry.raw_retention_days. `ts` is Unix seconds (float) so both
# engines compare and bucket it the same way.
request_events = Table(
    "request_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("ts", Float, nullable=False),
    Column("request_id", String(64), nullable=False, default=""),
    Column("trace_id", String(32), nullable=False, default=""),
    Column("service", String(128), nullable=False),
    Column("version", String(128), nullable=False),
    Column("route", String(256), nullable=False),
    Column("model", String(256), nullable=True),
    Column("provider", String(64), nullable=True),
    Column("status", Integer, nullable=False),
    Column("error_class", String(32), nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float, nullable=True),
    Column("is_stream", Boolean, nullable=False, default=False),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("reasoning_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=True),
    Column("guardrails", Text, nullable=False, default=""),  # comma-separated names
    Column("flags", String(1024), nullable=False, default="", server_default=""),  # key=variant;…
    Column("user_id", String(256), nullable=True),
    Column("overhead_ms", Float, nullable=True),
    Column("source", String(16), nullable=False, default="gateway"),
    Index(None, "ts"),
    Index(None, "service", "ts"),
    Index(None, "trace_id"),
)


def _rollup_table(name: str) -> Table:
    """Per-bucket aggregates per (service, version, route, model).

    `bucket` is the bucket's start in Unix seconds (minute- or hour-aligned). Histograms
    are mergeable log-bucket sketches serialised by telemetry.histogram.
    """
    return Table(
        name,
        metadata,
        Column("bucket", BigInteger, primary_key=True),
        Column("service", String(128), primary_key=True),
        Column("version", String(128), primary_key=True),
        Column("route", String(256), primary_key=True),
        Column("model", String(256), primary_key=True),  # "" when unknown
        Column("count", BigInteger, nullable=False, default=0),
        Column("errors", BigInteger, nullable=False, default=0),
        Column("successes", BigInteger, nullable=False, default=0),
        Column("errors_by_class", Text, nullable=False, default="{}"),  # JSON {class: n}
        Column("latency_sum_ms", Float, nullable=False, default=0.0),
        Column("latency_hist", LargeBinary, nullable=False),
        Column("ttft_count", BigInteger, nullable=False, default=0),
        Column("ttft_hist", LargeBinary, nullable=False),
        Column("stream_count", BigInteger, nullable=False, default=0),
        Column("input_tokens", BigInteger, nullable=False, default=0),
        Column("output_tokens", BigInteger, nullable=False, default=0),
        Column("cached_tokens", BigInteger, nullable=False, default=0),
        Column("reasoning_tokens", BigInteger, nullable=False, default=0),
        Column("cost_usd", Float, nullable=False, default=0.0),
        Column("cost_known", BigInteger, nullable=False, default=0),
        Column("cost_unknown", BigInteger, nullable=False, default=0),
        Column("guardrail_requests", BigInteger, nullable=False, default=0),
        Column("guardrail_counts", Text, nullable=False, default="{}"),  # JSON {name: n}
        Index(None, "service", "bucket"),
        # SLIs of one series (a canary version, a model) seek straight to its buckets.
        Index(None, "service", "version", "route", "model", "bucket"),
    )


rollups_minute = _rollup_table("rollups_minute")
rollups_hour = _rollup_table("rollups_hour")


# --- alerting --------------------------------------------------------------------------

# One row per occurrence of an alert: pending → firing → resolved (a pending alert whose
# condition clears before `for` has passed is deleted, as in Prometheus). At most one row
# per fingerprint is pending or firing; the next occurrence is a new row.
alerts = Table(
    "alerts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("fingerprint", String(64), nullable=False),  # hash of alertname + labels
    Column("alertname", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # threshold | burn_rate
    Column("severity", String(16), nullable=False),  # page | ticket
    Column("service", String(128), nullable=False),
    Column("slo", String(128), nullable=True),
    Column("labels", Text, nullable=False, default="{}"),  # JSON {name: value}
    Column("state", String(16), nullable=False),  # pending | firing | resolved
    Column("active_at", Float, nullable=False),  # when the condition first held
    Column("fired_at", Float, nullable=True),
    Column("resolved_at", Float, nullable=True),
    Column("last_eval_at", Float, nullable=False),
    Column("last_true_at", Float, nullable=True),
    Column("keep_firing_since", Float, nullable=True),  # first false evaluation while firing
    Column("value", Float, nullable=True),  # the indicator's last value (never NaN)
    Column("threshold", Float, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("runbook_url", Text, nullable=True),
    Column("acked_at", Float, nullable=True),
    Column("acked_by", String(128), nullable=True),
    Index(None, "fingerprint", "state"),
    Index(None, "state"),
    Index(None, "service", "active_at"),
)

# A silence mutes notifications for matching alerts (Alertmanager semantics): the alert
# still fires and is recorded; nobody is paged for it while the silence lasts.
silences = Table(
    "silences",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("matchers", Text, nullable=False),  # JSON {label: value}, all must match
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expired_at", Float, nullable=True),  # set when lifted early
    Index(None, "ends_at"),
)


# --- paging ----------------------------------------------------------------------------

# What paging has done for one alert occurrence (one row of `alerts`): which route took
# it, whether a silence held it back, when it was last sent, and where its escalation
# stands. Kept in the store so a restart neither pages twice nor loses a timer.
alert_paging = Table(
    "alert_paging",
    metadata,
    Column("alert_id", BigInteger, primary_key=True, autoincrement=False),
    Column("route", Integer, nullable=True),  # index in paging.routes; NULL: no route matched
    Column("group_key", String(512), nullable=False, default=""),
    Column("silenced_by", BigInteger, nullable=True),  # silence holding the first page back
    Column("notified_at", Float, nullable=True),  # first page; NULL while held back
    Column("last_notified_at", Float, nullable=True),  # for repeat_interval
    Column("notifiers", Text, nullable=False, default="[]"),  # JSON: names that were paged
    Column("acked_notified_at", Float, nullable=True),
    Column("resolved_notified_at", Float, nullable=True),
    Column("escalation_policy", String(128), nullable=True),
    Column("escalation_level", Integer, nullable=True),
    Column("escalation_cycle", Integer, nullable=False, default=0),
    Column("next_escalation_at", Float, nullable=True),  # NULL: nothing more to escalate
    Column("escalation_stopped", String(16), nullable=True),  # acknowledged|resolved|exhausted
    Column("updated_at", Float, nullable=False),
    Index(None, "next_escalation_at"),
)

# One message to one notifier, and its retry queue: pending until sent or given up on.
# `payload` is what is sent, minus secrets (URLs and routing keys are added at send time).
notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("notifier", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # slack | pagerduty | webhook | console
    Column("action", String(16), nullable=False),  # firing|repeat|escalation|acknowledged|resolved
    Column("alert_id", BigInteger, nullable=False),  # the first alert of the message
    Column("alert_ids", Text, nullable=False, default="[]"),  # JSON: every alert in it
    Column("group_key", String(512), nullable=False, default=""),
    Column("recipients", Text, nullable=False, default=""),  # comma-separated people paged
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=True),
    Column("last_attempt_at", Float, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Index(None, "state", "next_attempt_at"),
    Index(None, "alert_id"),
    Index(None, "created_at"),
)

# Every delivery attempt, whatever its outcome: the delivery log.
notification_attempts = Table(
    "notification_attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("delivery_id", BigInteger, nullable=False),
    Column("notifier", String(128), nullable=False),
    Column("alert_id", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("status_code", Integer, nullable=True),  # NULL: no HTTP answer (or console)
    Column("error", Text, nullable=True),
    Column("outcome", String(16), nullable=False),  # sent | retry | failed
    Index(None, "delivery_id"),
    Index(None, "at"),
)


# --- releases --------------------------------------------------------------------------

# Every version a service has had, with where its traffic goes. The gateway reads the
# weights from here (a poll off the request path), so a change reaches every process.
service_versions = Table(
    "service_versions",
    metadata,
    Column("service", String(128), primary_key=True),
    Column("version", String(128), primary_key=True),
    Column("upstream", Text, nullable=False),  # base URL, e.g. http://host:port/v1
    Column("api_key_ref", String(128), nullable=True),  # ${ENV} reference, never the key
    Column("weight", Float, nullable=False, default=0.0),  # share of traffic, 0-100
    Column("role", String(16), nullable=False),  # stable | canary | retired
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

deployments = Table(
    "deployments",
    metadata,
    _id_column(),
    Column("service", String(128), nullable=False),
    Column("version", String(128), nullable=False),
    Column("upstream", Text, nullable=False),
    Column("previous_version", String(128), nullable=True),
    Column("git_sha", String(64), nullable=True),
    Column("merged_at", Float, nullable=True),
    Column("artifact_digest", String(128), nullable=True),  # sha256:…
    Column("signature", Text, nullable=True),
    Column("is_signature_verified", Boolean, nullable=False, default=False),
    Column("deployed_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("live_at", Float, nullable=True),  # when it took all the traffic
    # rolling_out | live | rolled_back | aborted | superseded
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),  # JSON: why it was rolled back or aborted
    Index(None, "service", "created_at"),
)

rollouts = Table(
    "rollouts",
    metadata,
    _id_column(),
    Column("deployment_id", BigInteger, nullable=False),
    Column("service", String(128), nullable=False),
    Column("canary_version", String(128), nullable=False),
    Column("stable_version", String(128), nullable=False),
    # progressing | paused | inconclusive | promoted | rolled_back | aborted
    Column("state", String(16), nullable=False),
    Column("steps", Text, nullable=False),  # JSON list of canary weights, e.g. [5, 25, 50, 100]
    Column("step_index", Integer, nullable=False, default=0),
    Column("weight", Float, nullable=False, default=0.0),
    Column("hold_s", Float, nullable=False),
    Column("step_started_at", Float, nullable=False),
    Column("failed_checks", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("reason", Text, nullable=True),  # JSON: the check that decided, with its values
    Index(None, "service", "state"),
)

rollout_analyses = Table(
    "rollout_analyses",
    metadata,
    _id_column(),
    Column("rollout_id", BigInteger, nullable=False),
    Column("at", Float, nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("weight", Float, nullable=False),
    Column("verdict", String(16), nullable=False),  # pass | fail | inconclusive
    Column("checks", Text, nullable=False),  # JSON list: metric, canary, stable, test, result
    Index(None, "rollout_id", "at"),
)

flags = Table(
    "flags",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("kind", String(16), nullable=False),  # boolean | multivariate
    Column("description", Text, nullable=False, default=""),
    Column("variants", Text, nullable=False),  # JSON {name: value}
    Column("default_variant", String(128), nullable=False),  # served when on, no rule matches
    Column("off_variant", String(128), nullable=False),  # served when off or killed
    Column("is_enabled", Boolean, nullable=False, default=False),
    Column("rules", Text, nullable=False, default="[]"),  # JSON targeting rules, in order
    Column("rollout", Text, nullable=True),  # JSON {"weights": {variant: %}, "salt"?}
    Column("sticky_attribute", String(128), nullable=False, default="targetingKey"),
    Column("revision", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("archived_at", Float, nullable=True),
)

flag_audit = Table(
    "flag_audit",
    metadata,
    _id_column(),
    Column("flag_key", String(128), nullable=False),
    Column("at", Float, nullable=False),
    Column("by", String(128), nullable=False),
    Column("action", String(32), nullable=False),  # create | set | rollout | kill | …
    Column("before", Text, nullable=True),  # JSON of the flag before
    Column("after", Text, nullable=True),  # JSON of the flag after
    Index(None, "flag_key", "at"),
    Index(None, "at"),
)


# --- incidents -------------------------------------------------------------------------

incidents = Table(
    "incidents",
    metadata,
    _id_column(),
    Column("service", String(128), nullable=False),
    Column("title", Text, nullable=False),
    Column("severity", String(8), nullable=False),  # SEV1 | SEV2 | SEV3
    # public status, as on Atlassian Statuspage: investigating | identified | monitoring |
    # resolved
    Column("status", String(16), nullable=False),
    Column("impact", String(16), nullable=False),  # none | minor | major | critical
    Column("assignee", String(128), nullable=True),
    Column("is_drill", Boolean, nullable=False, default=False),
    Column("runbook", Text, nullable=True),
    Column("detected_at", Float, nullable=False),
    Column("acknowledged_at", Float, nullable=True),
    Column("mitigation_started_at", Float, nullable=True),
    Column("mitigated_at", Float, nullable=True),
    Column("first_update_at", Float, nullable=True),  # first public status update
    Column("reminded_at", Float, nullable=True),  # the 10-minute reminder was sent
    Column("deadline_acted_at", Float, nullable=True),  # the 15-minute policy acted
    Column("resolved_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index(None, "service", "detected_at"),
    Index(None, "status"),
)

# Which alerts belong to an incident: related alerts join the open incident of their service.
incident_alerts = Table(
    "incident_alerts",
    metadata,
    Column("incident_id", BigInteger, primary_key=True),
    Column("alert_id", BigInteger, primary_key=True),
    Column("joined_at", Float, nullable=False),
)

# The timeline: every step with its time (detected, paged, acknowledged, mitigation
# started/done, status updates, reminders, resolved, notes).
incident_events = Table(
    "incident_events",
    metadata,
    _id_column(),
    Column("incident_id", BigInteger, nullable=False),
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(128), nullable=True),
    Column("message", Text, nullable=False, default=""),
    Column("data", Text, nullable=True),  # JSON
    Index(None, "incident_id", "at"),
)

# Updates published on the public status page; only these (and component names and
# states) are ever shown there.
status_updates = Table(
    "status_updates",
    metadata,
    _id_column(),
    Column("incident_id", BigInteger, nullable=False),
    Column("at", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("by", String(128), nullable=False),
    Column("is_templated", Boolean, nullable=False, default=False),
    Index(None, "incident_id", "at"),
    Index(None, "at"),
)

maintenances = Table(
    "maintenances",
    metadata,
    _id_column(),
    Column("components", Text, nullable=False),  # JSON list of component (service) names
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "ends_at"),
)

# A manual override of a component's public state, until it expires or is lifted.
component_overrides = Table(
    "component_overrides",
    metadata,
    Column("component", String(128), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_by", String(128), nullable=False),
    Column("set_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
)

# One piece of user feedback: from the widget, /ingest/feedback, a Langfuse-style score or
# the SDK. `client_id` is the sender's idempotency key (a retry stores nothing new);
# service/version/model/flags are copied from the request `trace_id` names, when known.
feedback = Table(
    "feedback",
    metadata,
    _id_column(),
    Column("client_id", String(128), nullable=True, unique=True),
    Column("created_at", Float, nullable=False),
    Column("source", String(16), nullable=False),  # widget | api | score | sdk
    Column("trace_id", String(64), nullable=True),
    Column("name", String(128), nullable=True),  # a score's name, e.g. user-feedback
    Column("rating", Float, nullable=True),  # thumbs: 1 up / 0 down; stars: 1..5
    Column("rating_kind", String(16), nullable=True),  # thumbs | stars | numeric | category
    Column("is_negative", Boolean, nullable=False, default=False),
    Column("category", String(32), nullable=True),  # bug | idea | answer_quality | other
    Column("comment", Text, nullable=False, default=""),  # stored as sent, escaped on display
    Column("email", String(320), nullable=True),
    Column("user_id", String(256), nullable=True),
    Column("page", String(1024), nullable=True),
    Column("service", String(128), nullable=True),
    Column("version", String(128), nullable=True),
    Column("model", String(256), nullable=True),
    Column("flags", String(1024), nullable=True),
    Column("metadata", Text, nullable=True),  # JSON object
    Column("state", String(16), nullable=False, default="new"),
    Column("duplicate_of", BigInteger, nullable=True),
    Column("backlog_id", String(128), nullable=True),
    Column("cluster_id", BigInteger, nullable=True),
    Column("is_support", Boolean, nullable=False, default=False),
    Column("support_reason", Text, nullable=True),
    Column("support_notified_at", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
    Index(None, "state", "created_at"),
    Index(None, "created_at"),
    Index(None, "trace_id"),
    Index(None, "cluster_id"),
    Index(None, "backlog_id"),
)

# Every change of a feedback item's state, for the audit trail and the review.
feedback_history = Table(
    "feedback_history",
    metadata,
    _id_column(),
    Column("feedback_id", BigInteger, nullable=False),
    Column("at", Float, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Index(None, "feedback_id", "at"),
)

# Groups of similar comments; recomputed by clustering, feedback.cluster_id points here.
feedback_clusters = Table(
    "feedback_clusters",
    metadata,
    _id_column(),
    Column("label", Text, nullable=False),
    Column("method", String(16), nullable=False),  # tfidf | embeddings
    Column("size", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Issues in a tracker that feedback is linked to: GH-123 / LIN-ENG-12 / anything typed.
backlog_items = Table(
    "backlog_items",
    metadata,
    Column("backlog_id", String(128), primary_key=True),
    Column("tracker", String(16), nullable=False),  # github | linear | manual
    Column("external_id", String(128), nullable=True),  # the tracker's own id
    Column("url", String(1024), nullable=True),
    Column("title", Text, nullable=False, default=""),
    Column("state", String(32), nullable=False, default="open"),
    Column("created_at", Float, nullable=False),
    Column("synced_at", Float, nullable=True),
)

# Product analytics: PostHog, Amplitude, the widget and /ingest/events land here. `uuid`
# (PostHog's uuid, Amplitude's insert_id, ours) makes a retry store nothing new.
analytics_events = Table(
    "analytics_events",
    metadata,
    _id_column(),
    Column("uuid", String(128), nullable=False, unique=True),
    Column("event", String(200), nullable=False),
    Column("distinct_id", String(200), nullable=False),
    Column("ts", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("source", String(16), nullable=False),  # posthog | amplitude | prodloop | widget
    Column("session_id", String(200), nullable=True),
    Column("path", String(1024), nullable=True),  # page path (pageviews and clicks)
    Column("x", Float, nullable=True),  # click position, 0..1 of the viewport width
    Column("y", Float, nullable=True),  # click position, 0..1 of the viewport height
    Column("properties", Text, nullable=False, default="{}"),  # JSON object
    Index(None, "event", "ts"),
    Index(None, "distinct_id", "ts"),
    Index(None, "path", "event"),
)

# Fault rules turned on at run time (drills against a staging prodloop): gateways whose
# config has `faults.enabled: true` poll them; the others ignore them. Same fields as
# the config's `faults.rules`.
fault_rules = Table(
    "fault_rules",
    metadata,
    _id_column(),
    Column("service", String(128), nullable=False),
    Column("version", String(128), nullable=True),  # every version when empty
    Column("latency_ms", Float, nullable=False, default=0.0),
    Column("error_rate", Float, nullable=False, default=0.0),
    Column("error_status", Integer, nullable=False, default=503),
    Column("token_multiplier", Float, nullable=False, default=1.0),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(128), nullable=False),
)

# --- dashboard users -------------------------------------------------------------------

# People who log in to the dashboard or call /api/v1 with a token of their own. Passwords
# are argon2 hashes; the role is viewer | operator | admin.
users = Table(
    "users",
    metadata,
    _id_column(),
    Column("name", String(128), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# A logged-in browser. Only the SHA-256 of the cookie's session id is kept, so a copy of
# the store cannot be replayed as a session.
user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index(None, "user_id"),
    Index(None, "expires_at"),
)

# A user's API tokens for /api/v1, with the user's role. Shown once at creation; only the
# SHA-256 is kept, with a short prefix so that a person can tell their tokens apart.
user_tokens = Table(
    "user_tokens",
    metadata,
    _id_column(),
    Column("user_id", BigInteger, nullable=False),
    Column("name", String(128), nullable=False, default=""),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Index(None, "user_id"),
)

# --- closing the loop ------------------------------------------------------------------

# An A/B test on a feature flag's variants, judged on one metric.
experiments = Table(
    "experiments",
    metadata,
    _id_column(),
    Column("name", String(128), nullable=False, unique=True),
    Column("flag_key", String(128), nullable=False),
    Column("metric", String(256), nullable=False),  # thumbs_up_rate | conversion:EVENT | …
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("concluded_at", Float, nullable=True),
    Column("verdict", String(32), nullable=True),  # ship | dont_ship | keep_running
    Column("result", Text, nullable=True),  # JSON of the concluding analysis
)

# Who signed off on the launch checklist, in which role, and when.
launch_signoffs = Table(
    "launch_signoffs",
    metadata,
    _id_column(),
    Column("by", String(128), nullable=False),
    Column("role", String(64), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("at", Float, nullable=False),
    Index(None, "role", "at"),
)

# The launch's own timeline: ga_declared, watch_started, watch_passed / watch_failed,
# post_written. The state of the launch is its latest events.
launch_events = Table(
    "launch_events",
    metadata,
    _id_column(),
    Column("kind", String(32), nullable=False),
    Column("at", Float, nullable=False),
    Column("by", String(128), nullable=True),
    Column("data", Text, nullable=True),  # JSON
    Index(None, "kind", "at"),
)

# Reviews written (weekly, daily, quarterly), so the schedule writes each period once and
# the dashboard lists them.
reviews = Table(
    "reviews",
    metadata,
    _id_column(),
    Column("kind", String(16), nullable=False),  # weekly | daily | quarterly
    Column("period", String(32), nullable=False),  # 2026-W48 | 2026-11-27 | 2026-Q4
    Column("written_at", Float, nullable=False),
    Column("path_md", String(1024), nullable=True),
    Column("path_html", String(1024), nullable=True),
    Column("summary", Text, nullable=True),  # JSON: the called-out regressions and headline
    Index(None, "kind", "period"),
)
