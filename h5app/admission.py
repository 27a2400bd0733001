"""Admission control for claims: at most CLAIM_ADMISSION_LIMIT claims of one template are written
at once, across every worker and instance that shares the store. When a template's claims arrive
faster than the database takes them, the rest are refused at once (`Busy`: the page answers 503
with Retry-After) instead of queueing for the template's row lock — each waiter would hold a
connection and a worker thread, and its answer would come seconds later either way.

A refused claim has written nothing; the refusal says "try again", never that the stock is gone.

The store follows CLAIM_ADMISSION_STORAGE_URI, else RATELIMIT_STORAGE_URI (h5app/config.py):
  * redis:// or rediss:// — one sorted set per template, shared by every process. Each claim in
    flight is a member scored by when it lapses (HOLD_SECONDS from admission, by the Redis clock):
    a process killed mid-claim frees its slot then, not never.
  * anything else — this process's memory: it bounds only this process's threads (development,
    tests, a single process); several workers or instances share their counts through Redis.
A slot is given back when the claim ends, however it ends (a refusal, an error, an exception).
"""
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app

log = logging.getLogger(__name__)

HOLD_SECONDS = 60  # longer than any request may run (gunicorn's timeout is 30 s)
REDIS_SCHEMES = ("redis://", "rediss://")
_EXTENSION = "claim_admission"
_UNBOUNDED = object()  # admitted without a slot: the store could not be reached


class Busy(Exception):
    """Too many claims of this template in flight: nothing was done, try again in `retry_after` s."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"claims in flight at the limit; retry after {retry_after} s")


class MemorySlots:
    """Claims in flight per key, in this process."""

    errors = ()  # nothing to reach

    def __init__(self):
        self._lock = threading.Lock()  # gthread workers claim from several threads
        self._held: dict[str, int] = {}

    def acquire(self, key: str, limit: int) -> str | None:
        with self._lock:
            held = self._held.get(key, 0)
            if held >= limit:
                return None
            self._held[key] = held + 1
        return key

    def release(self, key: str, _token: str) -> None:
        with self._lock:
            held = self._held.pop(key, 0) - 1
            if held > 0:
                self._held[key] = held

    def in_flight(self, key: str) -> int:
        with self._lock:
            return self._held.get(key, 0)


# Atomic in Redis: drop lapsed holders, then admit one more if there is room. By the Redis clock,
# so the instances' clocks need not agree.
_ACQUIRE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


class RedisSlots:
    """Claims in flight per key, in Redis, shared by every process that uses the same server."""

    PREFIX = "h5app:claims-in-flight:"

    def __init__(self, url: str):
        import redis  # only where a Redis store is configured

        self.errors = (redis.RedisError,)
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._acquire = self.client.register_script(_ACQUIRE)

    def acquire(self, key: str, limit: int) -> str | None:
        token = uuid.uuid4().hex
        admitted = self._acquire(keys=[self.PREFIX + key], args=[limit, HOLD_SECONDS, token])
        return token if admitted else None

    def release(self, key: str, token: str) -> None:
        self.client.zrem(self.PREFIX + key, token)

    def in_flight(self, key: str) -> int:
        return self.client.zcard(self.PREFIX + key)


def storage_uri(config) -> str:
    return config.get("CLAIM_ADMISSION_STORAGE_URI") or config["RATELIMIT_STORAGE_URI"]


def _slots():
    """This app's store, made on first use: building the app opens no connection."""
    slots = current_app.extensions.get(_EXTENSION)
    if slots is None:
        uri = storage_uri(current_app.config)
        slots = RedisSlots(uri) if uri.startswith(REDIS_SCHEMES) else MemorySlots()
        slots = current_app.extensions.setdefault(_EXTENSION, slots)
    return slots


@contextmanager
def claim_slot(template_id: int) -> Iterator[None]:
    """Hold one of the template's claim slots for the block, or raise Busy at once.

    While the store cannot be reached the claim goes ahead unbounded (and the failure is logged):
    the database's guarded UPDATE keeps the stock exact whatever the number in flight."""
    slots, key = _slots(), str(template_id)
    try:
        token = slots.acquire(key, current_app.config["CLAIM_ADMISSION_LIMIT"])
    except slots.errors as error:
        log.warning("claim admission store unreachable, admitting unbounded: %s", error)
        token = _UNBOUNDED
    if token is None:
        raise Busy(current_app.config["CLAIM_ADMISSION_RETRY_AFTER"])
    try:
        yield
    finally:
        if token is not _UNBOUNDED:
            try:
                slots.release(key, token)
            except slots.errors as error:
                log.warning("claim admission slot not given back (it lapses within %s s): %s",
                            HOLD_SECONDS, error)


def in_flight(template_id: int) -> int:
    """How many claims of the template hold a slot now."""
    return _slots().in_flight(str(template_id))
