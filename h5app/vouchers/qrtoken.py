"""The dynamic QR token (PRODUCT.md §5).

Token = KIND(1) + CODE(16) + STEP(7) + MAC(16), all upper-case base32/alphanumeric: 40 characters,
which QR alphanumeric mode packs into a small version-3 symbol that a cheap scan gun reads.
STEP is the 30-second time step; a token is accepted while the current step is STEP or STEP+1,
so a screenshot stops working within 60 seconds. MAC = HMAC-SHA256(secret, KIND|CODE|STEP),
first 80 bits, base32.
"""
import base64
import hashlib
import hmac
import re
import time

STEP_SECONDS = 30
ACCEPT_STEPS = 2  # the step it was minted in and the next one: at most 60 s
CODE_LEN, STEP_LEN, MAC_LEN = 16, 7, 16
TOKEN_LEN = 1 + CODE_LEN + STEP_LEN + MAC_LEN
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TOKEN_SHAPE = re.compile(rf"^[A-Z][A-Z0-9]{{{CODE_LEN}}}[A-Z2-7]{{{STEP_LEN + MAC_LEN}}}$")

KIND_VOUCHER = "V"
KIND_PERSON = "P"
KIND_SESSION = "S"  # a lesson's rotating 签到码 on the classroom screen
KIND_SESSION_OUT = "O"  # the same lesson's 签退码, shown as it ends


class QrInvalid(Exception):
    """Not a token of ours, or tampered with."""


class QrExpired(Exception):
    """A genuine token, but older than the accepted window (a screenshot)."""


def _b32_int(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        chars.append(_B32[value & 31])
        value >>= 5
    if value:
        raise ValueError("step out of range")
    return "".join(reversed(chars))


def _int_b32(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 32 + _B32.index(ch)
    return value


def _mac(secret: bytes, kind: str, code: str, step: str) -> str:
    digest = hmac.new(secret, f"{kind}|{code}|{step}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode()  # 80 bits → 16 chars, no padding


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def sign(secret: bytes, kind: str, code: str, now: float | None = None) -> str:
    if len(kind) != 1 or len(code) != CODE_LEN or not code.isalnum() or code.upper() != code:
        raise ValueError("code must be 16 upper-case alphanumerics")
    step = _b32_int(current_step(now), STEP_LEN)
    return kind + code + step + _mac(secret, kind, code, step)


def verify(secret: bytes, token: str, now: float | None = None) -> tuple[str, str]:
    """Return (kind, code) of a genuine, fresh token; raise QrInvalid or QrExpired."""
    token = (token or "").strip().upper()
    if len(token) != TOKEN_LEN or not _TOKEN_SHAPE.match(token):
        raise QrInvalid
    kind, code = token[0], token[1 : 1 + CODE_LEN]
    step_text = token[1 + CODE_LEN : 1 + CODE_LEN + STEP_LEN]
    mac = token[1 + CODE_LEN + STEP_LEN :]
    if not hmac.compare_digest(mac, _mac(secret, kind, code, step_text)):
        raise QrInvalid
    age = current_step(now) - _int_b32(step_text)
    if age < 0:
        raise QrInvalid  # minted in the future: not something our server produced
    if age >= ACCEPT_STEPS:
        raise QrExpired
    return kind, code


def seconds_to_refresh(now: float | None = None) -> int:
    now = time.time() if now is None else now
    return STEP_SECONDS - int(now % STEP_SECONDS)
