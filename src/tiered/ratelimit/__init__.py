"""Rate limiting: GCRA in memory or Redis, with the IETF RateLimit header fields."""

from tiered.ratelimit.backend import RateLimitBackend
from tiered.ratelimit.decision import Decision, Outcome, QuotaSet, QuotaState
from tiered.ratelimit.errors import (
    QUOTA_EXCEEDED_TYPE,
    QuotaExceededError,
    RateLimiterUnavailableError,
)
from tiered.ratelimit.install import (
    install_rate_limiting,
    prepare_rate_limiting,
    validate_route_policies,
)
from tiered.ratelimit.keys import PrincipalOf, client_address_key, principal_key, storage_key
from tiered.ratelimit.limiter import DEFAULT_POLICY, RateLimiter
from tiered.ratelimit.memory import MemoryRateLimitBackend
from tiered.ratelimit.metrics import RateLimitMetrics
from tiered.ratelimit.middleware import DEFAULT_EXEMPT_PATHS, RateLimitMiddleware
from tiered.ratelimit.openapi import document_rate_limits
from tiered.ratelimit.rates import Quota, RateSpec, parse_rates, quotas_of
from tiered.ratelimit.redis_backend import RedisRateLimitBackend
from tiered.ratelimit.routes import RateLimitDependency, declared_policies, rate_limit

__all__ = [
    "DEFAULT_EXEMPT_PATHS",
    "DEFAULT_POLICY",
    "QUOTA_EXCEEDED_TYPE",
    "Decision",
    "MemoryRateLimitBackend",
    "Outcome",
    "PrincipalOf",
    "Quota",
    "QuotaExceededError",
    "QuotaSet",
    "QuotaState",
    "RateLimitBackend",
    "RateLimitDependency",
    "RateLimitMetrics",
    "RateLimitMiddleware",
    "RateLimiter",
    "RateLimiterUnavailableError",
    "RateSpec",
    "RedisRateLimitBackend",
    "client_address_key",
    "declared_policies",
    "document_rate_limits",
    "install_rate_limiting",
    "parse_rates",
    "prepare_rate_limiting",
    "principal_key",
    "quotas_of",
    "rate_limit",
    "storage_key",
    "validate_route_policies",
]
