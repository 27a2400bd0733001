"""The default store of the rate limiter's counters: in this process's memory, like limits'
`memory://`, without its sweeper thread.

limits' MemoryStorage sweeps expired counters on a threading.Timer that lives 10 ms, and the
first hit after it ends starts a new one. A gunicorn worker serving a request every few
milliseconds therefore started a thread for nearly every request and waited for it to run
(bench/api_verify.py under py-spy: about a tenth of a worker's time in Thread.start). Here a
counter expires when it is next touched, and the whole table is swept at most once a minute,
inline, so a crowd of one-off clients cannot grow it without bound.

Registered with limits as `process-memory://` by subclassing limits.storage.Storage, the
documented way to add a store. It supports the fixed-window strategy only (Flask-Limiter's
default, the one configured here): with RATELIMIT_STRATEGY set to a moving or sliding window the
app refuses to start. Counts are per process, as with `memory://`; several workers or instances
share theirs through Redis (RATELIMIT_STORAGE_URI=redis://…).
"""
import threading
import time

from limits.storage import Storage

SCHEME = "process-memory"


class ProcessMemoryStorage(Storage):
    STORAGE_SCHEME = [SCHEME]
    SWEEP_SECONDS = 60.0
    clock = staticmethod(time.time)  # tests replace it

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._counters: dict[str, tuple[int, float]] = {}  # key → (count, when its window ends)
        self._lock = threading.Lock()  # gthread workers hit from several threads
        self._next_sweep = self.clock() + self.SWEEP_SECONDS

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def _current(self, key: str, now: float) -> tuple[int, float] | None:
        """The key's (count, end of window), or None once its window has ended. Under the lock."""
        counter = self._counters.get(key)
        if counter is not None and counter[1] <= now:
            del self._counters[key]
            return None
        return counter

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = self.clock()
        with self._lock:
            if now >= self._next_sweep:
                self._counters = {k: c for k, c in self._counters.items() if c[1] > now}
                self._next_sweep = now + self.SWEEP_SECONDS
            counter = self._current(key, now)
            count, ends = (amount, now + expiry) if counter is None else (counter[0] + amount, counter[1])
            self._counters[key] = (count, ends)
            return count

    def get(self, key: str) -> int:
        with self._lock:
            counter = self._current(key, self.clock())
        return 0 if counter is None else counter[0]

    def get_expiry(self, key: str) -> float:
        now = self.clock()
        with self._lock:
            counter = self._current(key, now)
        return now if counter is None else counter[1]

    def check(self) -> bool:
        return True

    def reset(self) -> int:
        with self._lock:
            cleared = len(self._counters)
            self._counters.clear()
        return cleared

    def clear(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)
