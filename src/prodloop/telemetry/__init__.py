"""Request events, the histogram sketch, prices, the pipeline, rollups and SLI queries."""
