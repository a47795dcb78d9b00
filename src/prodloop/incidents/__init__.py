"""Incidents: opened by pages, mitigated, communicated, and written up as post-mortems."""
