"""开班申请 → 开班审核 through the service (issue 19): where the district's policy requires it (Shandong,
Chongqing), a new class waits for the bureau covering its district; only an approved class enrols,
verifies and receives directed vouchers; a return carries a reason and the institution resubmits;
changes to an approved class's lessons are kept for the bureau. Every refusal changes nothing.
The pages are in test_class_review_pages.py, the API in test_api_class_review.py."""
from datetime import time, timedelta

import pytest
from sqlalchemy import func, inspect, select, update

from h5app.extensions import db
from h5app.models import AuditEvent, ClassChange, ClassReview, Enrolment, TrainingClass, Voucher
from h5app.models.classes import CLASS_DRAFT, CLASS_OPEN, CLASS_PENDING_REVIEW, CLASS_RETURNED
from h5app.models.vouchers import CLAIMED
from h5app.timeutil import local_at, local_today, utcnow
from h5app.vouchers import app_qr_secret, audit, class_review, classes, enrolment, issuance, verify
from h5app.vouchers.errors import (
    ClassNotOpen, ClassPendingReview, DomainError, InvalidTransition, OutOfScope, ValidationFailed,
)
from tests import factories as f

TEACHERS = [{"name": "鲁明", "certificate_number": "3701002019000123"}]
PLAN = "焊工理论12课时、实操20课时，结业考核由第三方评价机构组织。"


@pytest.fixture
def jinan(session):
    """济南市 under the Shandong policy (开班审核 on), a school in 历下区, its officer, the city's
    clerk; and 绍兴市 under the default policy with its own clerk."""
    f.region("330600", "绍兴市")
    f.region("370100", "济南市", "shandong")
    f.region("370102", "历下区", "shandong", parent="370100")
    school = f.institution(name="济南市历下区鲁班职业培训学校", region_code="370102")
    session.commit()
    return school


def officer_of(school):
    return f.institution_actor(school)


def clerk(region_code="370100"):
    staff = f.staff("bureau", region_code=region_code)
    return audit.Actor.for_staff(staff)


def values(**overrides):
    start = local_today() + timedelta(days=7)
    return {"course_name": "焊工（四级）培训", "occupation": "焊工", "level": "四级", "project_type": "employment_skills",
            "price_fen": 200000, "starts_on": start, "ends_on": start + timedelta(days=5), "teaching_plan": PLAN,
            **overrides}


def lessons(count=2):
    start = local_today() + timedelta(days=7)
    return [(local_at(start + timedelta(days=n), time(8)), local_at(start + timedelta(days=n), time(12)), 4)
            for n in range(count)]


def submit(school, **overrides):
    teachers = overrides.pop("teachers", TEACHERS)
    return classes.create_class(db.session, school, values(**overrides), lessons(), officer_of(school),
                                teachers=teachers)


def class_state(class_id):
    db.session.expire_all()
    row = db.session.get(TrainingClass, class_id)
    return ({a.key: getattr(row, a.key) for a in inspect(TrainingClass).column_attrs},
            db.session.scalar(select(func.count(ClassReview.id))), db.session.scalar(select(func.count(AuditEvent.id))))


# --- 开班申请 -------------------------------------------------------------------------------------

def test_a_class_in_a_review_region_is_submitted_for_review_with_its_plan_and_teachers(jinan):
    made = submit(jinan)
    assert made.status == CLASS_PENDING_REVIEW and made.approved_at is None
    assert made.teaching_plan == PLAN
    assert [(t.name, t.certificate_number) for t in made.teachers] == [("鲁明", "3701002019000123")]
    [step] = class_review.history(db.session, made)
    assert step.action == "submit"
    assert [e.action for e in f.audit_events()] == ["class.create", "class.submit"]


def test_a_class_where_the_policy_asks_no_review_is_made_as_before(jinan):
    school = f.institution(region_code="330602")
    made = classes.create_class(db.session, school, values(teaching_plan=None, status=CLASS_DRAFT), lessons(),
                                officer_of(school))
    assert made.status == CLASS_DRAFT and class_review.history(db.session, made) == []


def test_chongqing_asks_for_review_and_shaoxing_does_not():
    f.region("500000", "重庆市", "chongqing")
    f.region("330600", "绍兴市", "shaoxing")
    assert class_review.review_required(db.session, f.institution(region_code="500103"))
    assert not class_review.review_required(db.session, f.institution(region_code="330602"))


@pytest.mark.parametrize("overrides, field", [
    ({"teaching_plan": "  "}, "teaching_plan"),
    ({"teachers": []}, "teachers"),
    ({"teachers": [{"name": "鲁明", "certificate_number": ""}]}, "teachers.0.certificate_number"),
    ({"teachers": [{"name": "鲁明", "certificate_number": "证书123"}]}, "teachers.0.certificate_number"),
    ({"teachers": [{"name": "L1", "certificate_number": "3701002019000123"}]}, "teachers.0.name"),
])
def test_an_incomplete_submission_is_refused_and_nothing_is_made(jinan, overrides, field):
    with pytest.raises(ValidationFailed) as refused:
        submit(jinan, **overrides)
    assert field in refused.value.details["fields"]
    assert db.session.scalar(select(func.count(TrainingClass.id))) == 0
    assert db.session.scalar(select(func.count(ClassReview.id))) == 0


# --- 开班审核 -------------------------------------------------------------------------------------

def test_the_bureau_approves_and_enrolment_opens(jinan):
    made = submit(jinan)
    reviewer = clerk()
    class_review.review(db.session, made, reviewer, approve=True)
    assert made.status == CLASS_OPEN and made.approved_at is not None
    assert [s.action for s in class_review.history(db.session, made)] == ["submit", "approve"]
    [event] = f.audit_events(action="class.approve")
    assert event.actor_label == reviewer.label and event.region_code == "370102"


def test_a_return_needs_a_reason_and_the_institution_sees_it_and_resubmits(jinan):
    made = submit(jinan)
    before = class_state(made.id)
    with pytest.raises(ValidationFailed) as empty:
        class_review.review(db.session, made, clerk(), approve=False, reason="   ")
    assert empty.value.details["fields"]["reason"].startswith("请填写退回原因")
    assert class_state(made.id) == before

    class_review.review(db.session, made, clerk(), approve=False, reason="授课教师证书编号查无此证，请核对")
    assert made.status == CLASS_RETURNED
    assert class_review.last_return_reason(db.session, made) == "授课教师证书编号查无此证，请核对"
    class_review.resubmit(db.session, made, officer_of(jinan))
    assert made.status == CLASS_PENDING_REVIEW and class_review.last_return_reason(db.session, made) is None
    class_review.review(db.session, made, clerk(), approve=True)
    assert [s.action for s in class_review.history(db.session, made)] == ["submit", "return", "resubmit", "approve"]


@pytest.mark.parametrize("state, message", [
    ("approved", "该班期已审核通过，无需再次审核"),
    ("returned", "该班期已退回培训机构修改，机构重新提交后才能审核"),
])
def test_a_class_not_waiting_for_review_is_not_reviewed_again(jinan, state, message):
    made = submit(jinan)
    class_review.review(db.session, made, clerk(), approve=state == "approved", reason="请补充教学计划")
    before = class_state(made.id)
    for approve in (True, False):
        with pytest.raises(InvalidTransition) as refused:
            class_review.review(db.session, made, clerk(), approve=approve, reason="再次退回")
        assert refused.value.message == message
    assert class_state(made.id) == before


@pytest.mark.parametrize("who", ["another city's bureau", "the institution"])
def test_only_the_bureau_covering_the_district_reviews(jinan, who):
    made = submit(jinan)
    actor = clerk("330600") if who == "another city's bureau" else officer_of(jinan)
    before = class_state(made.id)
    with pytest.raises(OutOfScope):
        class_review.review(db.session, made, actor, approve=True)
    assert class_state(made.id) == before


def test_a_district_bureau_may_review_its_own_district(jinan):
    made = submit(jinan)
    class_review.review(db.session, made, clerk("370102"), approve=True)
    assert made.status == CLASS_OPEN


def test_resubmission_is_the_owners_and_only_of_a_returned_class(jinan):
    made = submit(jinan)
    with pytest.raises(InvalidTransition, match="正在等待人社部门审核"):
        class_review.resubmit(db.session, made, officer_of(jinan))
    class_review.review(db.session, made, clerk(), approve=False, reason="请补充")
    with pytest.raises(OutOfScope):
        class_review.resubmit(db.session, made, officer_of(f.institution(region_code="370102")))
    assert made.status == CLASS_RETURNED


def test_of_two_clerks_deciding_at_once_one_wins_and_the_other_is_told(jinan):
    """The second clerk read the class while it was waiting; the first approved it meanwhile."""
    made = submit(jinan)
    late = clerk()
    class_id = made.id
    stale = db.session.get(TrainingClass, class_id)
    assert stale.status == CLASS_PENDING_REVIEW and stale.institution.region_code
    db.session.expunge(stale)  # the second clerk's page, as read
    db.session.commit()
    db.session.execute(update(TrainingClass).where(TrainingClass.id == class_id)
                       .values(status=CLASS_OPEN, approved_at=utcnow()))  # the first clerk's approval
    db.session.commit()
    db.session.add(stale)  # back with the state it was read in: pending_review
    with pytest.raises(InvalidTransition, match="刚刚已由其他工作人员审核"):
        class_review.review(db.session, stale, late, approve=False, reason="退回")
    db.session.expire_all()
    assert db.session.get(TrainingClass, class_id).status == CLASS_OPEN
    assert db.session.scalar(select(func.count(ClassReview.id)).where(ClassReview.action == "return")) == 0


# --- what a class waiting for review may not do ----------------------------------------------------

@pytest.fixture
def waiting(jinan):
    made = submit(jinan)
    template = f.template("shandong", name="济南市职业技能培训券", region_code="370100")
    worker = f.person(name="孔秀兰", region_code="370102")
    voucher = f.voucher(template, worker, CLAIMED, claimed_at=utcnow(), expires_at=utcnow() + timedelta(days=60))
    db.session.commit()
    return made, worker, voucher


def test_a_class_waiting_for_review_takes_no_enrolment(waiting):
    made, worker, voucher = waiting
    with pytest.raises(ClassPendingReview):
        enrolment.enrol(db.session, worker, made, voucher_code=voucher.code)
    assert db.session.scalar(select(func.count(Enrolment.id))) == 0


def verify_at(made, voucher):
    return verify.verify(db.session, qr=f.qr_for(voucher), class_id=made.id,
                         actor=f.institution_actor(made.institution),
                         qr_secret=app_qr_secret())


def test_a_class_waiting_for_review_takes_no_verification_and_a_returned_one_neither(waiting):
    made, _worker, voucher = waiting
    with pytest.raises(DomainError) as pending:
        verify_at(made, voucher)
    assert pending.value.code == "CLASS_PENDING_REVIEW"
    class_review.review(db.session, made, clerk(), approve=False, reason="请补充实操场地")
    with pytest.raises(ClassNotOpen) as returned:
        verify_at(made, voucher)
    assert "开班审核退回" in returned.value.message
    db.session.expire_all()
    assert db.session.get(Voucher, voucher.id).status == CLAIMED
    assert f.audit_events(action="voucher.verify") == []


def test_once_approved_the_class_enrols_and_verifies(waiting):
    made, worker, voucher = waiting
    class_review.review(db.session, made, clerk(), approve=True)
    enrolment.enrol(db.session, worker, made, voucher_code=voucher.code)
    assert verify_at(made, voucher).result == verify.VERIFIED


def test_a_class_waiting_for_review_receives_no_directed_vouchers(waiting):
    made, worker, _voucher = waiting
    template = f.directed_template(policy_code="shandong", name="济南市定向培训券", region_code="370100")
    f.enrol(made, worker)
    db.session.commit()
    with pytest.raises(ClassPendingReview):
        issuance.issue_directed(db.session, template, made, clerk())
    assert db.session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template.id)) == 0
    assert template.claimed_count == 0


# --- changes after approval ----------------------------------------------------------------------

def test_changes_to_an_approved_class_are_kept_for_the_bureau_until_read(jinan):
    made = submit(jinan)
    class_review.review(db.session, made, clerk(), approve=True)
    before = class_review.snapshot(made)
    later = made.sessions[1]
    later.starts_at, later.ends_at = later.starts_at + timedelta(days=1), later.ends_at + timedelta(days=1)
    lines = class_review.record_changes(db.session, made, before, officer_of(jinan))
    db.session.commit()
    assert len(lines) == 1 and lines[0].startswith("第2次课：") and "→" in lines[0]
    [item] = class_review.changed(db.session, "370100")
    assert item.training_class.id == made.id and item.unread == 1
    assert class_review.changed(db.session, "330600") == []
    with pytest.raises(OutOfScope):
        class_review.mark_changes_read(db.session, made, clerk("330600"))
    assert class_review.mark_changes_read(db.session, made, clerk()) == 1
    assert class_review.changed(db.session, "370100") == []
    assert db.session.scalar(select(ClassChange.read_at)) is not None
    with pytest.raises(InvalidTransition):
        class_review.mark_changes_read(db.session, made, clerk())


def test_edits_before_approval_are_not_changes(jinan):
    made = submit(jinan)
    before = class_review.snapshot(made)
    made.sessions[0].hours = 3
    assert class_review.record_changes(db.session, made, before, officer_of(jinan)) == []


def test_the_queue_lists_the_regions_waiting_classes_oldest_first(jinan):
    first, second = submit(jinan), submit(jinan, course_name="电工（五级）培训")
    elsewhere = f.institution(region_code="330602")
    classes.create_class(db.session, elsewhere, values(), lessons(), officer_of(elsewhere))
    assert [item.training_class.id for item in class_review.pending(db.session, "370100")] == [first.id, second.id]
    assert class_review.waiting_count(db.session, "370100") == 2
    assert class_review.pending(db.session, "330600") == []
