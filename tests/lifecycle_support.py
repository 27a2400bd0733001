"""A class before its first lesson, and trainees whose vouchers were verified for it through the
engine: the world of the 取消班期, 退班 and 签退 tests (engine, pages, API); and a lesson under way
with its trainee's phone, for the worker's 签到 and 签退 pages. A module using a fixture imports it
and those it builds on."""
from dataclasses import dataclass
from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import AuditEvent, CheckIn, Enrolment, Notification, TrainingClass, Voucher
from h5app.timeutil import local_at, utcnow
from h5app.vouchers import app_qr_secret, qrtoken, verify

from . import factories as f
from .auth_support import sign_in

FIRST_DAY = date(2022, 5, 20)  # lessons 08:00–12:00 on the 20th and the 21st (f.training_class)
NOW = local_at(date(2022, 5, 10), time(10))  # ten days before the first lesson
VERIFIED_AT = NOW - timedelta(days=5)
WINDOW = dict(claim_starts_on=date(2022, 5, 1), claim_ends_on=date(2022, 6, 30))
FIRST_LESSON = local_at(FIRST_DAY, time(8))


def course(inst=None, **values) -> TrainingClass:
    return f.training_class(inst, **{"starts_on": FIRST_DAY, "ends_on": FIRST_DAY + timedelta(days=10), **values})


def template(policy_code: str = "default", **values):
    return f.template(policy_code, **{**WINDOW, **values})


def claimed(owner=None, tmpl=None, **values) -> Voucher:
    defaults = dict(claimed_at=VERIFIED_AT - timedelta(days=1), expires_at=NOW + timedelta(days=30))
    return f.voucher(tmpl or template(), owner or f.person(), "claimed", **{**defaults, **values})


def verified(training_class, owner=None, *, at=VERIFIED_AT, tmpl=None, **values) -> Voucher:
    """A voucher claimed, then verified for `training_class` at `at` by the engine itself."""
    voucher = claimed(owner, tmpl, **values)
    db.session.commit()
    verify.verify(db.session, qr=f.qr_for(voucher, f.epoch(at)), class_id=training_class.id,
                  actor=f.institution_actor(training_class.institution), qr_secret=app_qr_secret(), now=at,
                  now_ts=f.epoch(at))
    return db.session.get(Voucher, voucher.id)


@dataclass(frozen=True)
class State:
    """Everything a refused request must leave as it was."""

    vouchers: tuple
    enrolments: tuple
    classes: tuple
    check_ins: tuple
    audit_rows: int
    notices: int


def state() -> State:
    db.session.expire_all()
    return State(
        tuple(db.session.execute(select(Voucher.id, Voucher.status, Voucher.class_id, Voucher.expires_at,
                                        Voucher.used_at, Voucher.bound_class_id).order_by(Voucher.id)).all()),
        tuple(db.session.execute(select(Enrolment.id, Enrolment.status, Enrolment.voucher_id, Enrolment.ended_at)
                                 .order_by(Enrolment.id)).all()),
        tuple(db.session.execute(select(TrainingClass.id, TrainingClass.status, TrainingClass.cancelled_at)
                                 .order_by(TrainingClass.id)).all()),
        tuple(db.session.execute(select(CheckIn.id, CheckIn.checked_out_at).order_by(CheckIn.id)).all()),
        db.session.scalar(select(func.count(AuditEvent.id))),
        db.session.scalar(select(func.count(Notification.id))),
    )


def stored(voucher_id) -> Voucher:
    db.session.expire_all()
    return db.session.get(Voucher, voucher_id)


# --- a lesson under way, on the trainee's phone -----------------------------------------------------

SITE = {"lat": "30.0", "lng": "120.58"}  # a phone's position at the factories' institution site, radius 300 m


@pytest.fixture
def lesson_begun():
    """Now: a lesson that began half an hour ago and ends in two hours, 陈小燕 enrolled, not yet in:
    (lesson, worker, verifier)."""
    return f.desk_lesson(started=timedelta(minutes=30), ends_in=timedelta(hours=2), hours=2)


@pytest.fixture
def phone(app, lesson_begun):
    """The phone of lesson_begun's trainee, signed in."""
    client = app.test_client()
    sign_in(client, lesson_begun[1])
    return client


def checked_in(lesson, worker, minutes_ago: int, method: str = "location") -> CheckIn:
    """In `minutes_ago` minutes ago, not yet out."""
    record = f.check_in(lesson, worker, method=method, created_at=utcnow() - timedelta(minutes=minutes_ago),
                        checked_out_at=None, checkout_method=None)
    db.session.commit()
    return record


def the_record(lesson, worker) -> CheckIn | None:
    db.session.expire_all()
    return db.session.scalar(select(CheckIn).where(CheckIn.session_id == lesson.id, CheckIn.person_id == worker.id))


def classroom_code(lesson, kind=qrtoken.KIND_SESSION, age_seconds: float = 0) -> str:
    """The code on the classroom's screen (its 签到码, or with KIND_SESSION_OUT its 签退码)."""
    return qrtoken.sign(app_qr_secret(), kind, lesson.qr_code, f.epoch(utcnow()) - age_seconds)
