"""Racing threads: `race` releases many at the same instant, each in its own app context, and
returns every outcome, for the never-double-spent tests on either database. For the forced orders
(PostgreSQL only): a thread per side (`in_thread`), the cancellation held just after its lock
(`hold_after_cancellation_lock`), and the held side let go once the other waits for a row lock."""
import threading

import pytest
from sqlalchemy import text

from h5app.extensions import db
from h5app.vouchers import cancellation
from h5app.vouchers.errors import DomainError

THREADS = 16


def race(app, work, count=THREADS):
    """Run `work(i)` in `count` threads released together; return each outcome (result or error code)."""
    # The main thread lets go of its transaction first: on SQLite every transaction holds the
    # write lock (BEGIN IMMEDIATE), and the racers must only wait for each other.
    db.session.commit()
    barrier = threading.Barrier(count)
    outcomes = [None] * count

    def run(i):
        with app.app_context():
            barrier.wait()
            try:
                outcomes[i] = work(i)
            except DomainError as error:
                outcomes[i] = error.code
            except Exception as error:  # surfaced in the assertion message, never swallowed
                outcomes[i] = f"UNEXPECTED {type(error).__name__}: {error}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


# --- forced orders (PostgreSQL: SQLite's BEGIN IMMEDIATE lets one writer in at a time) ---------------

def postgresql_only():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("forced interleavings need row locks: SQLite serialises whole transactions")


def someone_waits_for_a_lock() -> bool:
    with db.engine.connect() as probe:
        return bool(probe.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")))


def release_when_blocked_or_done(other: threading.Thread, go: threading.Event) -> None:
    """Let the held side go once the other side is waiting for a row lock (or has finished without
    waiting, which is what a missing lock would do). No sleep: the server says who waits."""
    for _ in range(100_000):
        if not other.is_alive() or someone_waits_for_a_lock():
            break
    go.set()


def in_thread(app, target, results, key):
    def body():
        with app.app_context():
            try:
                results[key] = target()
            except DomainError as error:
                results[key] = error.code
            finally:
                db.session.remove()
    return threading.Thread(target=body)


def hold_after_cancellation_lock(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Hold a cancellation right after it locked its class exclusively: `locked` is set then, and it
    goes on once `go` is set. A shared (退班) lock passes untouched."""
    locked, go = threading.Event(), threading.Event()
    real_lock = cancellation._lock_class

    def lock_then_hold(session, training_class, *, exclusive):
        real_lock(session, training_class, exclusive=exclusive)
        if exclusive:
            locked.set()
            go.wait()

    monkeypatch.setattr(cancellation, "_lock_class", lock_then_hold)
    return locked, go
