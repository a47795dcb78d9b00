"""Product analytics: captured events, funnels, retention and click heatmaps."""
