"""Flask-Login's user loader: one session key space for workers ("p:ID") and staff ("s:ID").
A session cookie counts only while its epoch matches the user's: signing out (or a password
change) bumps the epoch and so ends every copy of the cookie, wherever it was taken."""
from flask import session

from ..extensions import db
from ..models import Person, StaffUser


def load_user(user_id: str):
    kind, _, raw = (user_id or "").partition(":")
    if not raw.isdigit():
        return None
    if kind == "p":
        user = db.session.get(Person, int(raw))
    elif kind == "s":
        user = db.session.get(StaffUser, int(raw))
        user = user if user is not None and user.active else None
    else:
        return None
    if user is None or session.get("epoch", 0) != (user.session_epoch or 0):
        return None
    return user
