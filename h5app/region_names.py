"""Region code → name for pages, cached per process: regions are reference data, written only when
the region list is loaded or corrected (`flask demo`, a migration, an operator's fix), while nearly
every worker page names a region.

Invalidation rule — the cached names are dropped:
  * in this process, the moment any statement that writes the `regions` table runs on any engine
    (an ORM flush, a Core insert/update/delete, CREATE/DROP TABLE, or raw SQL naming the table),
    and again when that connection commits or rolls back, so another thread cannot keep the
    names it read in between;
  * in every other process, at the latest MAX_AGE seconds after they were loaded (a write made by
    another process cannot be seen here; a few minutes of an old name is acceptable for reference
    data, and a deploy or restart drops it at once).
"""
import re
import threading
import time
from collections.abc import Mapping
from types import MappingProxyType
from weakref import WeakKeyDictionary

from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.ddl import CreateTable, DropTable
from sqlalchemy.sql.dml import UpdateBase

from .models import Region

MAX_AGE = 300.0  # seconds
_WRITTEN = "region_names_written"  # flag in Connection.info until its transaction ends
_RAW_WRITE = re.compile(
    r"\b(?:insert\s+(?:or\s+\w+\s+)?into|update|delete\s+from|truncate(?:\s+table)?|alter\s+table|drop\s+table)"
    r"\s+(?:if\s+exists\s+)?[\"`]?regions\b",
    re.IGNORECASE,
)

_lock = threading.Lock()
_cache: "WeakKeyDictionary[Engine, tuple[float, Mapping[str, str]]]" = WeakKeyDictionary()
_generation = 0  # bumped by every invalidation: a load that raced a write is not kept
_listening = False


def region_names(session) -> Mapping[str, str]:
    """Every region's name by code, read-only. No statement while the cache is fresh."""
    engine = session.get_bind()
    entry = _cache.get(engine)
    if entry is not None and time.monotonic() - entry[0] < MAX_AGE:
        return entry[1]
    _listen()
    generation, loaded_at = _generation, time.monotonic()
    names = MappingProxyType(dict(session.execute(select(Region.code, Region.name)).all()))
    with _lock:
        if generation == _generation:
            _cache[engine] = (loaded_at, names)
    return names


def invalidate() -> None:
    global _generation
    with _lock:
        _generation += 1
        _cache.clear()


def _writes_regions(statement) -> bool:
    if isinstance(statement, UpdateBase):
        return getattr(getattr(statement, "table", None), "name", None) == Region.__tablename__
    if isinstance(statement, (CreateTable, DropTable)):
        return statement.element.name == Region.__tablename__
    return isinstance(statement, str) and _RAW_WRITE.search(statement) is not None


def _on_execute(connection, statement, *_args):
    if _writes_regions(statement):
        connection.info[_WRITTEN] = True
        invalidate()


def _on_transaction_end(connection):
    if connection.info.pop(_WRITTEN, False):
        invalidate()


def _listen() -> None:
    """Registered with the first load, not at import: until something is cached there is nothing
    to drop. Class-level, so it covers every engine of the process."""
    global _listening
    with _lock:
        if _listening:
            return
        event.listen(Engine, "before_execute", _on_execute)
        event.listen(Engine, "commit", _on_transaction_end)
        event.listen(Engine, "rollback", _on_transaction_end)
        _listening = True
