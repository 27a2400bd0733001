"""Ids typed into URLs, query strings and forms: anything that is not a database integer (a
positive 32-bit one: PostgreSQL's `integer`) is no id at all — a 404 or a refusal, never a value
that overflows the driver."""
MAX_ID = 2**31 - 1


def database_id(value) -> int | None:
    text = str(value).strip() if value is not None else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None
