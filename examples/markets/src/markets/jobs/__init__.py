"""markets.jobs."""
