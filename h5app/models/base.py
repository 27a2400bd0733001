"""Shared column helpers for the models."""
from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column

from ..timeutil import utcnow


def created_at_column() -> Mapped[datetime]:
    # A callable default, evaluated per row (never `utcnow()` evaluated once at import).
    return mapped_column(DateTime, default=utcnow, nullable=False)
