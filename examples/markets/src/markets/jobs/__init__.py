"""Background jobs of the markets service: the handlers' registry, the queue, the worker."""

from markets.jobs.handlers import JobHandlers
from markets.jobs.runtime import JOBS, MarketsJobs, jobs_of, markets_jobs

__all__ = ["JOBS", "JobHandlers", "MarketsJobs", "jobs_of", "markets_jobs"]
