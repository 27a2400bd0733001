"""Racing threads: `race` releases many at the same instant, each in its own app context, and
returns every outcome, for the never-double-spent tests on either database."""
import threading

from h5app.extensions import db
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
