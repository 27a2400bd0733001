"""Bytes from the scan gun → validated scans. No I/O here: the read loop feeds bytes and the time,
and gets back events — a scan, or a skipped piece with the reason to log. Garbage, half lines and
over-long lines are skipped, never raised."""
import re
from dataclasses import dataclass

TERMINATORS = {"CR": b"\r", "LF": b"\n", "CRLF": b"\n"}  # CRLF splits at LF; the CR is stripped
DEFAULT_CHARSET = "A-Za-z0-9._:/+=-"


@dataclass(frozen=True)
class Scan:
    code: str


@dataclass(frozen=True)
class Skipped:
    reason: str
    raw: bytes

    def preview(self) -> str:
        """What the log shows: escaped, and short (garbage can be long)."""
        text = repr(bytes(self.raw[:32]))
        return text + ("…" if len(self.raw) > 32 else "")


class LineParser:
    def __init__(self, terminator: str = "CR", min_length: int = 4, max_length: int = 64,
                 charset: str = DEFAULT_CHARSET, line_timeout: float = 0.5):
        if terminator not in TERMINATORS:
            raise ValueError(f"terminator must be one of {', '.join(TERMINATORS)}")
        self.separator = TERMINATORS[terminator]
        self.min_length, self.max_length = min_length, max_length
        self.shape = re.compile(f"[{charset}]+")
        self.line_timeout = line_timeout
        self._buffer = bytearray()
        self._overflowing = False  # dropping the rest of an over-long line up to its terminator
        self._last_byte_at: float | None = None

    def feed(self, data: bytes, now: float) -> list:
        events = self.idle(now)  # a partial line left from long ago is not the start of this one
        self._last_byte_at = now
        pieces = bytes(data).split(self.separator)
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            if self._overflowing:
                if not last:
                    self._overflowing = False  # the terminator ends the over-long line
                continue
            self._buffer += piece
            if last:
                # Room for the line plus stray whitespace or a CR before the terminator.
                if len(self._buffer) > self.max_length + 4:
                    events.append(Skipped(f"行过长 over-long line (more than {self.max_length} characters)",
                                          bytes(self._buffer)))
                    self._buffer.clear()
                    self._overflowing = True
                continue
            line = bytes(self._buffer)
            self._buffer.clear()
            event = self.validate(line)
            if event is not None:
                events.append(event)
        return events

    def idle(self, now: float) -> list:
        """Nothing read: a partial line older than line_timeout is a half line, dropped; an over-long
        line that silence ended (no terminator came) stops being dropped, so the next scan counts."""
        if self._last_byte_at is not None and now - self._last_byte_at > self.line_timeout:
            if self._buffer:
                return self.reset()
            self._overflowing = False
        return []

    def reset(self) -> list:
        """The port closed or timed out mid-line: drop what was half read."""
        events = [Skipped("不完整的一行 half line (no terminator)", bytes(self._buffer))] if self._buffer.strip() else []
        self._buffer.clear()
        self._overflowing = False
        return events

    def validate(self, line: bytes):
        stripped = line.strip(b" \t\r\n\x00")
        if not stripped:
            return None  # an empty line (e.g. the LF after a CR) is not worth a log line
        try:
            text = stripped.decode("ascii")
        except UnicodeDecodeError:
            return Skipped("非ASCII字节 bytes that are not ASCII", line)
        if len(text) < self.min_length:
            return Skipped(f"过短 too short (fewer than {self.min_length} characters)", line)
        if len(text) > self.max_length:
            return Skipped(f"行过长 over-long line (more than {self.max_length} characters)", line)
        if not self.shape.fullmatch(text):
            return Skipped("含不允许的字符 characters outside the allowed set", line)
        return Scan(text)


class Deduper:
    """Scan guns re-read a code held under them: the same code again within `window` seconds is dropped."""

    def __init__(self, window: float = 3.0):
        self.window = window
        self._seen: dict[str, float] = {}

    def is_repeat(self, code: str, now: float) -> bool:
        last = self._seen.get(code)
        self._seen[code] = now
        if len(self._seen) > 512:
            self._seen = {c: t for c, t in self._seen.items() if now - t <= self.window}
        return last is not None and now - last <= self.window


def mask(code: str) -> str:
    """A QR token is a credential for a minute: logs show its kind and tail only."""
    return code if len(code) <= 8 else f"{code[:1]}…{code[-6:]}"
