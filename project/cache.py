"""Django's Redis cache, with one connection pool per process instead of one per request."""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[tuple, RedisCacheClient] = {}
_lock = threading.Lock()


class PooledRedisCache(RedisCache):
    """Django keeps a cache object per thread and per async context, and each of Django's
    RedisCache objects has a connection pool of its own. Under ASGI every request is a
    context of its own: every request opened a new connection to Redis (connect, HELLO,
    CLIENT SETINFO, and redis-py reading its own version from the package metadata).
    Here the client, and so its pools, is shared by the whole process; redis-py's pools
    are thread-safe, and make new connections after a fork."""

    @cached_property
    def _cache(self) -> RedisCacheClient:
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client
