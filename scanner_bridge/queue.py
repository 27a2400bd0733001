"""The bridge's durable queue: every scan is written here (SQLite, WAL, synchronous=FULL) before any
attempt to send it, and removed only once the server has answered for it. A kill -9 or a power cut
of the bridge loses nothing that was read; delivery order is the order of `seq`."""
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Item:
    seq: int
    key: str
    code: str
    read_at: float  # unix seconds by the bridge's clock


class DurableQueue:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS scans ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, code TEXT NOT NULL,"
            " read_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)")

    def put(self, code: str, read_at: float) -> Item:
        key = uuid.uuid4().hex  # the idempotency key: fixed here, so every resend carries the same one
        with self._lock:
            seq = self._db.execute("INSERT INTO scans (key, code, read_at) VALUES (?, ?, ?)",
                                   (key, code, read_at)).lastrowid
        return Item(seq, key, code, read_at)

    def peek(self, limit: int) -> list[Item]:
        with self._lock:
            rows = self._db.execute("SELECT seq, key, code, read_at FROM scans ORDER BY seq LIMIT ?",
                                    (limit,)).fetchall()
        return [Item(*row) for row in rows]

    def remove(self, keys: list[str]) -> None:
        if not keys:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM scans WHERE key = ?", [(k,) for k in keys])
            self._db.execute("COMMIT")

    def depth_and_oldest(self) -> tuple[int, float | None]:
        """How many scans wait, and when the oldest was read (None: none waits)."""
        with self._lock:
            count, oldest = self._db.execute("SELECT count(*), min(read_at) FROM scans").fetchone()
        return count, oldest

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM scans").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
