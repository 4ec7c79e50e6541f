"""project/cache.py: one Redis client (and connection pool) per process."""

import threading

import pytest
from django.conf import settings

from project.cache import PooledRedisCache

URL = "redis://127.0.0.1:6379/15"


def test_cache_objects_of_every_context_share_one_client():
    clients = [PooledRedisCache(URL, {})._cache]
    thread = threading.Thread(target=lambda: clients.append(PooledRedisCache(URL, {})._cache))
    thread.start()
    thread.join()

    assert clients[0] is clients[1]
    assert PooledRedisCache("redis://127.0.0.1:6379/14", {})._cache is not clients[0]
    assert PooledRedisCache(URL, {"OPTIONS": {"db": 3}})._cache is not clients[0]


@pytest.mark.skipif(not settings.REDIS_URL, reason="Redis only (make test-postgres)")
def test_requests_reuse_the_connections_to_redis():
    def one_request():
        cache = PooledRedisCache(settings.REDIS_URL, {})  # what Django makes per context
        cache.set("stepwise-test-pool", 1)
        assert cache.get("stepwise-test-pool") == 1

    def connections_made() -> int:
        client = PooledRedisCache(settings.REDIS_URL, {})._cache.get_client()
        return client.info("stats")["total_connections_received"]

    before = connections_made()
    for _ in range(20):
        thread = threading.Thread(target=one_request)
        thread.start()
        thread.join()

    assert connections_made() - before <= 1  # Django's own RedisCache: 20
