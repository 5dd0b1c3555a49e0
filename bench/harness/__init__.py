"""The benchmark's orchestration: datasets, worker processes, load, statistics, report."""
