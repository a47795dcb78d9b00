"""User feedback: what users send, its triage into the backlog, and the support pipeline."""
