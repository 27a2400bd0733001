"""Flask-Login's user loader: one session key space for workers ("p:ID") and staff ("s:ID")."""
from ..extensions import db
from ..models import Person, StaffUser


def load_user(user_id: str):
    kind, _, raw = (user_id or "").partition(":")
    if not raw.isdigit():
        return None
    if kind == "p":
        return db.session.get(Person, int(raw))
    if kind == "s":
        user = db.session.get(StaffUser, int(raw))
        return user if user is not None and user.active else None
    return None
