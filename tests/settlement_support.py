"""The world of the settlement tests: trainees whose vouchers were used at a class, the bureau clerks
who review and pay, and fixtures for a class's application at each stage (course → submitted →
reviewed); each region's case (Shaoxing's certificate training, Chongqing's application); the
application the bureau console's pages review; an application whose every line was rejected, and a
class still running (no settlement before 结业), as the service, the pages and the API meet them. A
module using a fixture imports it and those it builds on."""
import itertools
from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import Settlement, StaffUser
from h5app.models.classes import CLASS_COMPLETED
from h5app.models.vouchers import CLAIMED, DIRECTED, FACE_VALUE, GENERAL, USED
from h5app.timeutil import local_at, local_today, utcnow
from h5app.vouchers import audit, settlement
from h5app.vouchers import settlement as settlement_service

from . import factories as f

NOW = local_at(date(2022, 5, 10), time(10))
WINDOW = dict(claim_starts_on=date(2022, 5, 1), claim_ends_on=date(2022, 6, 30))
CLASS_DATES = dict(starts_on=date(2022, 5, 10), ends_on=date(2022, 5, 20))
COMPLETED = dict(status=CLASS_COMPLETED, completed_at=local_at(date(2022, 5, 20), time(18)))


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def make_template(policy_code="default", **values):
    return f.template(policy_code, **{**WINDOW, **values})


def make_class(inst=None, sessions=5, **values):
    """Five sessions of 4 hours: 20 hours in all; completed (结业), as a class is before its
    institution may apply for settlement."""
    return f.training_class(inst, sessions=sessions, **{**CLASS_DATES, **COMPLETED, **values})


def trainee(cls, template, *, attended=5, passed=True, used_at=NOW, owner=None):
    """A worker whose voucher was used at `cls`, with `attended` sessions checked in and an exam
    result (`passed=None`: none on record)."""
    owner = owner or f.person()
    voucher = f.voucher(template, owner, USED, claimed_at=used_at - timedelta(days=1), used_at=used_at,
                        class_id=cls.id, institution_id=cls.institution_id)
    for class_session in cls.sessions[:attended]:
        f.check_in(class_session, owner)
    if passed is not None:
        f.exam_result(cls, owner, passed)
    return voucher


def officer(cls):
    return f.institution_actor(cls.institution)


_clerks = itertools.count(1)


def bureau_pair(region_code="330600"):
    """Two bureau clerks (real staff rows, never signing in): one reviews, the other pays."""
    actors = []
    for _ in range(2):
        n = next(_clerks)
        clerk = StaffUser(username=f"clerk{n}", name=f"经办{n}", role="bureau", region_code=region_code,
                          password_hash="!")
        f.db.session.add(clerk)
        f.db.session.flush()
        actors.append(audit.Actor.for_staff(clerk))
    return tuple(actors)


def line_of(app, voucher):
    return next(line for line in app.lines if line.voucher_id == voucher.id)


def lines_state(session, app):
    session.expire_all()
    return sorted((line.voucher_id, line.decision, line.decision_reason, line.amount_fen)
                  for line in session.get(Settlement, app.id).lines)


def reviewed_application(session, n=2, region="330600"):
    cls = make_class()
    template = make_template(face_value_fen=150000)
    vouchers = [trainee(cls, template) for _ in range(n)]
    session.commit()
    app = settlement.apply(session, cls, officer(cls), now=NOW)
    reviewer, cashier = bureau_pair(region)
    session.commit()
    settlement.review(session, app, reviewer, approve=[v.code for v in vouchers], now=NOW)
    return app, vouchers, cashier


@pytest.fixture
def course(session):
    """A class with: one trainee who qualifies, one who does not, one voucher used at another
    class and one claimed voucher never used."""
    template = make_template()
    cls, other = make_class(), make_class()
    good = trainee(cls, template)
    weak = trainee(cls, template, attended=2)
    elsewhere = trainee(other, template)
    unused = f.voucher(template, f.person(), CLAIMED, claimed_at=NOW, expires_at=NOW + timedelta(days=30))
    session.commit()
    return dict(cls=cls, good=good, weak=weak, elsewhere=elsewhere, unused=unused, template=template)


@pytest.fixture
def submitted(session, course):
    app = settlement.apply(session, course["cls"], officer(course["cls"]), now=NOW)
    return dict(course, app=app)


@pytest.fixture
def reviewed(session, submitted):
    reviewer, cashier = bureau_pair()
    session.commit()
    settlement.review(session, submitted["app"], reviewer, approve=[submitted["good"].code],
                      reject=[(submitted["weak"].code, "打卡率不足")], now=NOW)
    return dict(submitted, reviewer=reviewer, cashier=cashier)


# --- each region's case ---------------------------------------------------------------------------

def shaoxing_certificate_case(session, *, project_type="certificate", distribution=GENERAL, policy_code="shaoxing",
                              used_at=NOW, ends_on=date(2022, 5, 20)):
    values = dict(distribution_mode=distribution)
    if distribution == DIRECTED:
        values.update(function_mode=FACE_VALUE)
    template = make_template(policy_code, **values)
    cls = make_class(project_type=project_type, occupation="电工", ends_on=ends_on)
    voucher = trainee(cls, template, used_at=used_at)
    session.commit()
    return voucher, cls


def chongqing_application(session):
    f.region("500000", "重庆市", "chongqing")
    template = make_template("chongqing", region_code="500000", face_value_fen=100000)
    cls = make_class(f.institution(region_code="500103"))
    voucher = trainee(cls, template, owner=f.person(region_code="500103"))
    session.commit()
    return voucher, settlement.apply(session, cls, officer(cls), now=NOW)


# --- the application the bureau console reviews ---------------------------------------------------

@pytest.fixture
def application():
    training_class = f.training_class(sessions=2, status=CLASS_COMPLETED, completed_at=utcnow())
    template = f.template()
    lines = []
    for name, attended in (("陈小燕", 2), ("孙丽", 0)):
        person = f.person(name=name)
        voucher = f.voucher(template, person, "used", used_at=utcnow(), class_id=training_class.id,
                            institution_id=training_class.institution_id)
        for lesson in training_class.sessions[:attended]:
            f.check_in(lesson, person)
        f.exam_result(training_class, person, True)
        lines.append(voucher)
    db.session.commit()
    made = settlement_service.apply(db.session, training_class, f.institution_actor(training_class.institution))
    clerk, cashier = f.staff("bureau"), f.staff("bureau")
    db.session.commit()
    return made, lines, clerk, cashier


def line_id(made, voucher):
    return next(l.id for l in made.lines if l.voucher_id == voucher.id)


# --- every line rejected; a class not yet completed -----------------------------------------------

def rejected_application():
    """A completed class's application of two lines, both rejected by a clerk of 绍兴市."""
    f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    cls = f.training_class(sessions=1, status=CLASS_COMPLETED)
    template = f.template()
    vouchers = [f.voucher(template, f.person(), USED, used_at=utcnow(), class_id=cls.id,
                          institution_id=cls.institution_id) for _ in range(2)]
    db.session.commit()
    made = settlement.apply(db.session, cls, f.institution_actor(cls.institution))
    clerk = f.staff("bureau", region_code="330600")
    db.session.commit()
    settlement.review(db.session, made, audit.Actor.for_staff(clerk),
                      reject=[(v.code, "打卡率不足，未参加考核") for v in vouchers])
    return made, vouchers, cls


@pytest.fixture
def running():
    """A running class (lessons tomorrow) with a voucher used there, and its officer."""
    f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    cls = f.training_class(sessions=2, starts_on=local_today() + timedelta(days=1))
    voucher = f.voucher(f.template(), f.person(), USED, used_at=utcnow(), class_id=cls.id,
                        institution_id=cls.institution_id)
    officer = f.staff("officer", institution_id=cls.institution_id)
    db.session.commit()
    return cls, voucher, officer
