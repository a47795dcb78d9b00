"""Alerting: rules derived from the SLOs, their state machine, evaluation, and paging."""
