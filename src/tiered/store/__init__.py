"""Small atomic state shared by limiters, caches, breakers and deduplication."""

from tiered.store.memory import MemoryStore
from tiered.store.protocol import Store
from tiered.store.redis_store import RedisStore, redis_errors_as_cache_errors, ttl_milliseconds

__all__ = ["MemoryStore", "RedisStore", "Store", "redis_errors_as_cache_errors", "ttl_milliseconds"]
