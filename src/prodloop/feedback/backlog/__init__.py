"""Backlog trackers feedback links to: GitHub Issues and Linear, and typed-in ids."""

from __future__ import annotations

from dataclasses import dataclass

from prodloop.errors import ProdloopError


class TrackerError(ProdloopError):
    """The tracker refused or failed a request (bad token, no such repository, its limit)."""

    status_code = 502


@dataclass(frozen=True, slots=True)
class CreatedIssue:
    """An issue a tracker created: our backlog id (GH-12, LIN-ENG-7), its own id and URL."""

    backlog_id: str
    external_id: str
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class IssueState:
    """Where a tracker's issue stands: its own words, and what it means for the feedback."""

    state: str  # the tracker's: open / closed, or Linear's state name
    outcome: str | None  # shipped | wont_fix when the issue is done, None while open
