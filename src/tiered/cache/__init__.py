"""Caching: cache-aside reads with single-flight, tags and cross-process invalidation."""

from tiered.cache.backend import CacheBackend
from tiered.cache.cache import Cache
from tiered.cache.codec import Codec, FunctionCodec, JsonCodec, ModelCodec, codec_for
from tiered.cache.decorator import CachedFunction, cached
from tiered.cache.memory import MemoryCacheBackend
from tiered.cache.metrics import CacheMetrics
from tiered.cache.redis_backend import RedisCacheBackend
from tiered.cache.repository import CachedRepository, ReadsModelsById
from tiered.cache.two_level import TwoLevelCacheBackend

__all__ = [
    "Cache",
    "CacheBackend",
    "CacheMetrics",
    "CachedFunction",
    "CachedRepository",
    "Codec",
    "FunctionCodec",
    "JsonCodec",
    "MemoryCacheBackend",
    "ModelCodec",
    "ReadsModelsById",
    "RedisCacheBackend",
    "TwoLevelCacheBackend",
    "cached",
    "codec_for",
]
