"""Flask-Login's user loader: one session key space for workers ("p:ID") and staff ("s:ID").
A session cookie counts only while its epoch matches the user's: signing out (or a password
change) bumps the epoch and so ends every copy of the cookie, wherever it was taken.

A signed-in worker is read as a row, not loaded as a model: `current_user` is a SignedInWorker,
every column of the person's row as it was when the request began, read-only. Worker pages read
it (卡券中心, 领取, 我的卡券 — the pages of a claim rush — among them), and building a model
instance for it cost a fifth of such a page's work. A page that changes the person, or hands it
to code that does, loads the Person: `signed_in_person()`."""
import time

from flask import abort, current_app, session
from flask_login import UserMixin, current_user
from sqlalchemy import bindparam, select

from ..extensions import db
from ..ids import ascii_digits
from ..models import Person, StaffUser
from ..models.people import PersonFacts

# Built once: the person's row by id, every column.
_PERSON_ROW = select(Person.__table__).where(Person.__table__.c.id == bindparam("person_id"))


class SignedInWorker(PersonFacts, UserMixin):
    """The signed-in worker as read at the start of the request: each column of `people` is an
    attribute, with Person's own rules (PersonFacts). It cannot be changed: a change goes through
    the Person (`signed_in_person()`)."""

    def __init__(self, row):
        self.__dict__.update(row)

    def __setattr__(self, name, value):
        raise AttributeError(f"SignedInWorker is read-only ({name}): change the Person, signed_in_person()")

    def __repr__(self) -> str:
        return f"<SignedInWorker {self.id}>"


def load_user(user_id: str):
    kind, _, raw = (user_id or "").partition(":")
    if not ascii_digits(raw):
        return None
    if kind == "p":
        row = db.session.connection().execute(_PERSON_ROW, {"person_id": int(raw)}).mappings().first()
        user = SignedInWorker(row) if row is not None else None
    elif kind == "s":
        if staff_session_lapsed():
            return None
        user = db.session.get(StaffUser, int(raw))
        user = user if user is not None and user.active else None
    else:
        return None
    if user is None or session.get("epoch", 0) != (user.session_epoch or 0):
        return None
    return user


STAFF_SIGNED_IN_AT = "staff_signed_in_at"  # the sign-in's time, as a Unix timestamp


def staff_session_lapsed() -> bool:
    """A staff session older than STAFF_SESSION_HOURS (or from before sign-ins were timed) counts no more."""
    signed_in_at = session.get(STAFF_SIGNED_IN_AT)
    if not isinstance(signed_in_at, int):
        return True
    # A sign-in time ahead of this clock is another instance's clock running ahead, not a forgery
    # (the cookie is signed): only the age past the limit counts.
    return time.time() - signed_in_at > current_app.config["STAFF_SESSION_HOURS"] * 3600


def session_values(user_id: str, epoch: int = 0) -> dict:
    """What a sign-in writes into the session for the user of Flask-Login id `user_id` ("p:ID" or
    "s:ID"): for a session made without the sign-in pages (the smoke test, tests, benchmarks)."""
    values = {"_user_id": user_id, "_fresh": True, "epoch": epoch}
    if user_id.startswith("s:"):
        values[STAFF_SIGNED_IN_AT] = int(time.time())
    return values


def signed_in_person() -> Person:
    """The signed-in worker's Person, loaded in this request's session: for a page that changes
    the person (job consent, signing out) or hands it to code that may."""
    user = current_user._get_current_object()
    if isinstance(user, Person):
        return user  # signed in during this very request: Flask-Login holds the model itself
    person = db.session.get(Person, user.id)
    if person is None:  # deleted since the request began: as if signed out
        abort(401)
    return person
