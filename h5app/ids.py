"""Ids typed into URLs, query strings and forms: anything that is not a database integer (a
positive 32-bit one: PostgreSQL's `integer`) is no id at all — a 404 or a refusal, never a value
that overflows the driver."""
MAX_ID = 2**31 - 1


def ascii_digits(text: str) -> bool:
    """Only 0–9, at least one: `str.isdigit` alone also takes "²" and other Unicode digits, which
    `int` then refuses (or reads as another number)."""
    return text.isascii() and text.isdigit()


def database_id(value) -> int | None:
    text = str(value).strip() if value is not None else ""
    if not ascii_digits(text) or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def page_number(value) -> int:
    """A list's page from the query string: 1 for anything that is not a page a list could have
    (a word, 0, a number too long to be meant, which would overflow the OFFSET it becomes)."""
    text = str(value).strip() if value is not None else ""
    return int(text) if ascii_digits(text) and len(text) < 7 and int(text) > 0 else 1
