"""One transaction rule for every engine service: a service commits its own work when it
succeeds; on any error it rolls back, so a refusal leaves nothing half-written and no lock held."""
from functools import wraps

from sqlalchemy import select

from ..metrics import count_refusal
from ..models import Person
from .errors import DomainError


def service(function):
    @wraps(function)
    def run(session, *args, **kwargs):
        try:
            return function(session, *args, **kwargs)
        except DomainError as refusal:
            session.rollback()
            count_refusal(refusal)  # h5app_refusals_total{code}
            raise
        except BaseException:
            session.rollback()
            raise

    return run


# Ids per IN list: within every database's limit on bound parameters, and one round trip per
# thousand rows for a settlement or a payment of thousands.
CHUNK = 1000


def in_chunks(items, size: int = CHUNK):
    """`items` (a sequence) a slice of `size` at a time."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def lock_person(session, person_id: int) -> None:
    """Serialise the yearly-limit checks of one person (PostgreSQL row lock; SQLite's
    BEGIN IMMEDIATE already serialises all writers)."""
    session.execute(select(Person.id).where(Person.id == person_id).with_for_update())
