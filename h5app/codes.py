"""Unique codes (唯一码) for vouchers and people: 16 characters that survive being read aloud,
typed on a phone, or scanned — no 0/O or 1/I to confuse."""
import secrets

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols → 5 bits each
CODE_LENGTH = 16


def random_code(prefix: str = "") -> str:
    """5 random bits per symbol, from one call to the OS's CSPRNG."""
    length = CODE_LENGTH - len(prefix)
    value = secrets.randbits(5 * length)
    return prefix + "".join(ALPHABET[(value >> (5 * i)) & 31] for i in range(length))


def normalize_code(value: str | None) -> str:
    return (value or "").strip().upper().replace(" ", "").replace("-", "")


def is_voucher_code(value: str | None) -> bool:
    """Whether `value` reads as a code of this alphabet (as printed, spaces and dashes allowed)."""
    code = normalize_code(value)
    return len(code) == CODE_LENGTH and all(symbol in ALPHABET for symbol in code)
