"""Unique codes (唯一码) for vouchers and people: 16 characters that survive being read aloud,
typed on a phone, or scanned — no 0/O or 1/I to confuse."""
import secrets

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols → 5 bits each
CODE_LENGTH = 16


def random_code(prefix: str = "") -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH - len(prefix)))
    return prefix + body


def normalize_code(value: str | None) -> str:
    return (value or "").strip().upper().replace(" ", "").replace("-", "")
