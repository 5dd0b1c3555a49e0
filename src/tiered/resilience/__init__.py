"""Resilience: retries, circuit breakers, deduplication and outbound HTTP with SSRF defences."""

from tiered.resilience.addresses import AddressGuard, Resolver, resolve_host
from tiered.resilience.breaker import CircuitBreaker
from tiered.resilience.breaker_memory import MemoryBreakerBackend
from tiered.resilience.breaker_metrics import BreakerMetrics
from tiered.resilience.breaker_redis import RedisBreakerBackend
from tiered.resilience.breaker_state import (
    Admission,
    BreakerBackend,
    BreakerPolicy,
    BreakerSnapshot,
    BreakerState,
    Transition,
    Verdict,
)
from tiered.resilience.classify import (
    counts_against_dependency,
    is_transient,
    is_transient_status,
    parse_retry_after,
    retry_after_of,
)
from tiered.resilience.database_write import database_write, is_database_write
from tiered.resilience.dedup import Deduplicator, DedupResult
from tiered.resilience.errors import (
    UnsafeDestinationError,
    UpstreamResponseError,
    UpstreamUnavailableError,
)
from tiered.resilience.outbound import IDEMPOTENT_METHODS, OutboundClient, OutboundPolicy
from tiered.resilience.retry import RetryPolicy, RetryResult, retry
from tiered.resilience.transport import GuardedTransport

__all__ = [
    "IDEMPOTENT_METHODS",
    "AddressGuard",
    "Admission",
    "BreakerBackend",
    "BreakerMetrics",
    "BreakerPolicy",
    "BreakerSnapshot",
    "BreakerState",
    "CircuitBreaker",
    "DedupResult",
    "Deduplicator",
    "GuardedTransport",
    "MemoryBreakerBackend",
    "OutboundClient",
    "OutboundPolicy",
    "RedisBreakerBackend",
    "Resolver",
    "RetryPolicy",
    "RetryResult",
    "Transition",
    "UnsafeDestinationError",
    "UpstreamResponseError",
    "UpstreamUnavailableError",
    "Verdict",
    "counts_against_dependency",
    "database_write",
    "is_database_write",
    "is_transient",
    "is_transient_status",
    "parse_retry_after",
    "resolve_host",
    "retry",
    "retry_after_of",
]
