"""The rate limiter's default in-process store (h5app/rate_storage.py): fixed-window counts that
end with their window, no thread per hit, and a table that does not grow with one-off clients."""
import sys
import threading

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from h5app.extensions import limiter
from h5app.rate_storage import ProcessMemoryStorage


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(ProcessMemoryStorage, "clock", staticmethod(clock))
    return clock


def test_the_scheme_names_this_store():
    assert isinstance(storage_from_string("process-memory://"), ProcessMemoryStorage)


def test_a_fixed_window_refuses_past_its_amount_and_opens_again_when_it_ends(clock):
    limiter_ = FixedWindowRateLimiter(ProcessMemoryStorage())
    two_a_minute = parse("2/minute")
    assert [limiter_.hit(two_a_minute, "key:a") for _ in range(3)] == [True, True, False]
    assert limiter_.hit(two_a_minute, "key:b")  # another key has its own count
    stats = limiter_.get_window_stats(two_a_minute, "key:a")
    assert stats.remaining == 0 and stats.reset_time == clock.now + 60
    clock.now += 59.9
    assert not limiter_.hit(two_a_minute, "key:a")
    clock.now += 0.1  # the window has ended
    assert limiter_.get_window_stats(two_a_minute, "key:a").remaining == 2
    assert limiter_.hit(two_a_minute, "key:a")


def test_an_unknown_key_counts_zero_and_its_window_ends_now(clock):
    storage = ProcessMemoryStorage()
    assert storage.get("key:nobody") == 0
    assert storage.get_expiry("key:nobody") == clock.now


def test_clear_and_reset_forget_counts(clock):
    storage = ProcessMemoryStorage()
    storage.incr("a", 60)
    storage.incr("a", 60)
    storage.incr("b", 60)
    storage.clear("a")
    assert (storage.get("a"), storage.get("b")) == (0, 1)
    assert storage.reset() == 1
    assert storage.get("b") == 0


def test_ended_windows_of_clients_never_seen_again_are_swept(clock):
    storage = ProcessMemoryStorage()
    for n in range(100):
        storage.incr(f"ip:10.0.0.{n}", 60)
    clock.now += ProcessMemoryStorage.SWEEP_SECONDS
    storage.incr("ip:10.0.1.1", 60)  # the next hit after the sweep interval sweeps
    assert list(storage._counters) == ["ip:10.0.1.1"]


def test_neither_the_store_nor_its_hits_start_a_thread(monkeypatch):
    started = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread))
    storage = ProcessMemoryStorage()
    for n in range(50):
        storage.incr(f"key:{n % 3}", 60)
    assert started == []


def test_concurrent_hits_are_all_counted():
    storage = ProcessMemoryStorage()
    go = threading.Barrier(8)

    def hit():
        go.wait()
        for _ in range(500):
            storage.incr("key:shared", 60)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    previous = sys.getswitchinterval()
    # Switch threads as often as the interpreter can, so unguarded read-modify-writes would interleave.
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert storage.get("key:shared") == 8 * 500


def test_the_app_counts_in_this_store_by_default(make_app, monkeypatch, restore_limiter):
    monkeypatch.delenv("RATELIMIT_STORAGE_URI", raising=False)
    app = make_app(RATELIMIT_ENABLED=True)
    assert app.config["RATELIMIT_STORAGE_URI"] == "process-memory://"
    assert isinstance(limiter.storage, ProcessMemoryStorage)
