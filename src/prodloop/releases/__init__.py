"""Safe releases: deployments, rollouts and their judge, feature flags, signing."""
