"""验券 (PRODUCT.md §4): each check with its own error; a repeat at the same class is harmless; any
failure changes nothing. The yearly limits are in test_engine_verify_limits.py, the order of the
checks in test_engine_verify_order.py, what a verification asks of the database in
test_engine_verify_statements.py."""
from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, inspect, select

from h5app.models import AuditEvent, Enrolment, Voucher
from h5app.models.classes import CLASS_CLOSED, CLASS_COMPLETED, CLASS_DRAFT
from h5app.models.institutions import SUSPENDED
from h5app.models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED
from h5app.timeutil import end_of_local_day, local_at
from h5app.vouchers import app_qr_secret, claim, errors, qrtoken, verify
from h5app.vouchers.errors import DomainError
from tests import factories as f

NOW = local_at(date(2022, 5, 10), time(10))  # 02:00:00 UTC, on a 30-second step boundary
TS = f.epoch(NOW)
WINDOW = dict(claim_starts_on=date(2022, 5, 1), claim_ends_on=date(2022, 6, 30))


def make_template(policy_code="default", **values):
    return f.template(policy_code, **{**WINDOW, **values})


def claimed_voucher(template=None, owner=None, status=CLAIMED, **values):
    template = template or make_template()
    owner = owner or f.person()
    defaults = dict(claimed_at=NOW - timedelta(days=1), expires_at=NOW + timedelta(days=30))
    return f.voucher(template, owner, status, **{**defaults, **values})


def used_voucher(template, owner, training_class, used_at=NOW - timedelta(days=20), status=USED):
    return f.voucher(template, owner, status, claimed_at=used_at - timedelta(days=1), used_at=used_at,
                     class_id=training_class.id, institution_id=training_class.institution_id)


def run_verify(session, voucher, training_class, *, now=NOW, qr=None, id_number=None):
    return verify.verify(
        session, qr=qr or f.qr_for(voucher, f.epoch(now)), class_id=training_class.id,
        actor=f.institution_actor(training_class.institution), qr_secret=app_qr_secret(),
        id_number=id_number, now=now, now_ts=f.epoch(now),
    )


def snapshot(session, voucher_id):
    session.expire_all()
    voucher = session.get(Voucher, voucher_id)
    row = {attr.key: getattr(voucher, attr.key) for attr in inspect(Voucher).column_attrs}
    return (row, session.scalar(select(func.count(AuditEvent.id))),
            session.scalar(select(func.count(Enrolment.id))))


def assert_refused(session, code, voucher, training_class, **kwargs) -> DomainError:
    """Verification fails with `code` and leaves the voucher, the audit log and the roster as they were."""
    voucher_id = voucher.id
    before = snapshot(session, voucher_id)
    with pytest.raises(DomainError) as caught:
        run_verify(session, session.get(Voucher, voucher_id), training_class, **kwargs)
    assert caught.value.code == code, caught.value.message
    assert snapshot(session, voucher_id) == before
    return caught.value


# --- the happy path ------------------------------------------------------------------------------

def test_verify_moves_claimed_voucher_to_used_and_audits_it(session):
    voucher = claimed_voucher()
    cls = f.training_class()
    session.commit()

    result = run_verify(session, voucher, cls)

    assert result.result == verify.VERIFIED
    assert result.voucher.status == USED
    session.expire_all()
    stored = session.get(Voucher, voucher.id)
    assert (stored.status, stored.used_at, stored.class_id, stored.institution_id) == (
        USED, NOW, cls.id, cls.institution_id)
    [event] = f.audit_events(voucher_id=voucher.id)
    assert (event.action, event.from_status, event.to_status) == ("voucher.verify", CLAIMED, USED)
    assert (event.actor_type, event.actor_label, event.at) == ("staff", "测试核券", NOW)
    assert event.institution_id == cls.institution_id and event.person_id == voucher.person_id


def test_verify_enrols_the_trainee_with_the_voucher(session):
    voucher = claimed_voucher()
    cls = f.training_class()
    session.commit()

    run_verify(session, voucher, cls)

    enrolment = session.scalar(select(Enrolment).where(Enrolment.class_id == cls.id))
    assert (enrolment.person_id, enrolment.voucher_id, enrolment.source) == (voucher.person_id, voucher.id, "verify")


def test_verify_attaches_the_voucher_to_an_existing_enrolment(session):
    voucher = claimed_voucher()
    cls = f.training_class()
    f.enrol(cls, voucher.person)
    session.commit()

    run_verify(session, voucher, cls)

    [enrolment] = session.scalars(select(Enrolment)).all()
    assert (enrolment.voucher_id, enrolment.source) == (voucher.id, "roster")


def test_reverify_at_the_same_class_answers_already_verified_and_changes_nothing(session):
    voucher = claimed_voucher()
    cls = f.training_class()
    session.commit()
    run_verify(session, voucher, cls)
    before = snapshot(session, voucher.id)

    result = run_verify(session, session.get(Voucher, voucher.id), cls, now=NOW + timedelta(hours=2))

    assert result.result == verify.ALREADY_VERIFIED
    assert snapshot(session, voucher.id) == before
    assert session.get(Voucher, voucher.id).used_at == NOW
    assert len(f.audit_events(voucher_id=voucher.id)) == 1


def test_second_verify_of_used_voucher_at_another_class_is_refused(session):
    voucher = claimed_voucher()
    first, second = f.training_class(), f.training_class()
    session.commit()
    run_verify(session, voucher, first)

    error = assert_refused(session, "VOUCHER_ALREADY_USED", voucher, second, now=NOW + timedelta(hours=1))

    assert error.message == "该培训券已在其他班期使用，一张券只能使用一次"
    assert session.get(Voucher, voucher.id).class_id == first.id


def test_second_verify_at_another_class_of_the_same_institution_is_refused(session):
    voucher = claimed_voucher()
    inst = f.institution()
    first, second = f.training_class(inst), f.training_class(inst, course_name="电工提高班")
    session.commit()
    run_verify(session, voucher, first)

    assert_refused(session, "VOUCHER_ALREADY_USED", voucher, second)


# --- 1. the QR: signature and freshness ----------------------------------------------------------

def _tampered(token):
    return token[:-1] + ("A" if token[-1] != "A" else "B")


@pytest.mark.parametrize("make_qr, message", [
    (lambda v: _tampered(f.qr_for(v, TS)), None),
    (lambda v: qrtoken.sign(b"another-secret" * 3, qrtoken.KIND_VOUCHER, v.code, TS), None),
    (lambda v: v.code, None),  # the static code alone is never accepted at the front desk
    (lambda v: "NOT-A-QR-CODE", None),
    (lambda v: f.qr_for(v, TS + 30), None),  # minted in the future
    (lambda v: qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, v.code, TS), "这不是培训券二维码"),
])
def test_forged_or_foreign_qr_is_refused_as_qr_invalid(session, make_qr, message):
    voucher = claimed_voucher()
    cls = f.training_class()
    session.commit()

    error = assert_refused(session, "QR_INVALID", voucher, cls, qr=make_qr(voucher))

    assert message is None or error.message.startswith(message)


@pytest.mark.parametrize("age, accepted", [(0, True), (29, True), (59, True), (60, False), (61, False), (600, False)])
def test_qr_is_accepted_for_60_seconds_then_refused_as_qr_expired(session, age, accepted):
    voucher = claimed_voucher()
    cls = f.training_class()
    session.commit()
    qr = f.qr_for(voucher, TS)  # minted at the start of a 30 s step

    kwargs = dict(qr=qr, class_id=cls.id, actor=f.institution_actor(cls.institution),
                  qr_secret=app_qr_secret(), now=NOW, now_ts=TS + age)
    if accepted:
        assert verify.verify(session, **kwargs).result == verify.VERIFIED
    else:
        before = snapshot(session, voucher.id)
        with pytest.raises(DomainError) as caught:
            verify.verify(session, **kwargs)
        assert caught.value.code == "QR_EXPIRED"
        assert "60秒" in caught.value.message
        assert snapshot(session, voucher.id) == before


# --- 2. exists, 3. belongs to the presented person ------------------------------------------------

def test_genuine_qr_of_unknown_voucher_is_refused_as_not_found(session):
    cls = f.training_class()
    session.commit()
    qr = qrtoken.sign(app_qr_secret(), qrtoken.KIND_VOUCHER, "ABCDEFGH23456789", TS)
    audits = session.scalar(select(func.count(AuditEvent.id)))

    with pytest.raises(DomainError) as caught:
        verify.verify(session, qr=qr, class_id=cls.id, actor=f.institution_actor(cls.institution),
                      qr_secret=app_qr_secret(), now=NOW, now_ts=TS)

    assert (caught.value.code, caught.value.status) == ("VOUCHER_NOT_FOUND", 404)
    assert session.scalar(select(func.count(AuditEvent.id))) == audits


def test_voucher_presented_by_someone_else_is_refused_as_person_mismatch(session):
    voucher = claimed_voucher()
    stranger = f.person(name="李四")
    cls = f.training_class()
    session.commit()

    error = assert_refused(session, "PERSON_MISMATCH", voucher, cls, id_number=stranger.id_number)

    assert error.message == "该培训券不属于出示人，培训券限本人使用"


@pytest.mark.parametrize("form", [lambda n: n, lambda n: f"  {n[:6]} {n[6:]} ", lambda n: n.lower()])
def test_voucher_presented_with_the_owners_id_number_is_accepted(session, form):
    voucher = claimed_voucher()
    cls = f.training_class()
    session.commit()

    result = run_verify(session, voucher, cls, id_number=form(voucher.person.id_number))

    assert result.result == verify.VERIFIED


# --- 4. state, 5. expiry ------------------------------------------------------------------------

@pytest.mark.parametrize("status, values, code", [
    (USED, {}, "VOUCHER_ALREADY_USED"),
    (SETTLED, dict(settled_at=NOW - timedelta(days=1)), "VOUCHER_SETTLED"),
    (REVOKED, dict(revoked_at=NOW - timedelta(days=1), revoke_reason="重复发放"), "VOUCHER_REVOKED"),
    (OFFERED, dict(claimed_at=None, offered_at=NOW - timedelta(days=1)), "VOUCHER_NOT_CLAIMED"),
    (EXPIRED, dict(expires_at=NOW - timedelta(days=1)), "VOUCHER_EXPIRED"),
    (CLAIMED, dict(expires_at=NOW - timedelta(seconds=1)), "VOUCHER_EXPIRED"),  # overdue, no sweep yet
])
def test_voucher_that_is_not_claimed_and_current_is_refused(session, status, values, code):
    template = make_template()
    owner = f.person()
    elsewhere = f.training_class()
    cls = f.training_class()
    if status in (USED, SETTLED):
        voucher = used_voucher(template, owner, elsewhere, status=status)
        for key, value in values.items():
            setattr(voucher, key, value)
    else:
        voucher = claimed_voucher(template, owner, status=status, **values)
    session.commit()

    assert_refused(session, code, voucher, cls)


def test_voucher_is_usable_until_the_last_instant_of_its_deadline(session):
    deadline = end_of_local_day(date(2022, 5, 31))
    voucher = claimed_voucher(expires_at=deadline)
    cls = f.training_class()
    session.commit()

    assert run_verify(session, voucher, cls, now=deadline).result == verify.VERIFIED


def test_shaoxing_voucher_must_be_activated_within_90_days_of_claim(session):
    template = make_template("shaoxing", valid_days=365)
    on_time, too_late = f.person(), f.person()
    cls = f.training_class()
    session.commit()
    v1 = claim.claim(session, on_time, template, now=NOW)
    v2 = claim.claim(session, too_late, template, now=NOW)

    day_90 = local_at(date(2022, 8, 8), time(23, 59))  # claim day 2022-05-10 + 90 days
    assert run_verify(session, v1, cls, now=day_90).result == verify.VERIFIED
    assert_refused(session, "VOUCHER_EXPIRED", v2, cls, now=local_at(date(2022, 8, 9), time(0, 0)))


def test_chongqing_voucher_is_refused_after_its_fixed_deadline(session):
    f.region("500000", "重庆市", "chongqing")
    template = make_template("chongqing", region_code="500000", valid_until=date(2022, 11, 30), valid_days=None,
                             claim_ends_on=date(2022, 11, 30))
    inst = f.institution(region_code="500103")
    cls = f.training_class(inst)
    on_time, too_late = f.person(region_code="500103"), f.person(region_code="500103")
    session.commit()
    v1 = claim.claim(session, on_time, template, now=NOW)
    v2 = claim.claim(session, too_late, template, now=NOW)

    assert run_verify(session, v1, cls, now=local_at(date(2022, 11, 30), time(23, 59))).result == verify.VERIFIED
    assert_refused(session, "VOUCHER_EXPIRED", v2, cls, now=local_at(date(2022, 12, 1), time(0, 0)))


# --- 6. the template applies to this class ------------------------------------------------------

@pytest.mark.parametrize("template_values, institution_region, class_values, message", [
    ({}, "320211", {}, "该培训券不能在本地区的培训机构使用"),
    (dict(project_types=["certificate"]), "330602", dict(project_type="employment_skills"),
     "该培训券仅适用于证书类培训，本班期为就业技能培训"),
    (dict(occupation="焊工"), "330602", dict(occupation="电工"), "该培训券仅适用于焊工工种，本班期为电工"),
    (dict(level="三级"), "330602", dict(level="四级"), "该培训券仅适用于三级等级，本班期为四级"),
])
def test_voucher_that_does_not_fit_the_class_is_refused_as_not_applicable(
        session, template_values, institution_region, class_values, message):
    voucher = claimed_voucher(make_template(**template_values))
    cls = f.training_class(f.institution(region_code=institution_region), **class_values)
    session.commit()

    error = assert_refused(session, "NOT_APPLICABLE", voucher, cls)

    assert error.message == message


@pytest.mark.parametrize("template_values, class_values", [
    ({}, {}),
    (dict(project_types=["employment_skills", "certificate"]), dict(project_type="certificate")),
    (dict(occupation="电工", level="四级"), dict(occupation="电工", level="四级")),
])
def test_voucher_that_fits_the_class_is_verified(session, template_values, class_values):
    voucher = claimed_voucher(make_template(**template_values))
    cls = f.training_class(f.institution(region_code="330621"), **class_values)
    session.commit()

    assert run_verify(session, voucher, cls).result == verify.VERIFIED


def test_directed_voucher_is_refused_at_a_class_other_than_its_own(session):
    template = f.directed_template(**WINDOW)
    inst = f.institution()
    own, other = f.training_class(inst), f.training_class(inst, course_name="电工二班")
    owner = f.person()
    voucher = claimed_voucher(template, owner, bound_class_id=own.id)
    session.commit()

    error = assert_refused(session, "NOT_APPLICABLE", voucher, other)

    assert error.message == "该定向券只能在发券时指定的班期使用"
    assert run_verify(session, session.get(Voucher, voucher.id), own).result == verify.VERIFIED


@pytest.mark.parametrize("status", [CLASS_DRAFT, CLASS_CLOSED, CLASS_COMPLETED])
def test_class_that_is_not_open_refuses_verification(session, status):
    voucher = claimed_voucher()
    cls = f.training_class(status=status)
    session.commit()

    error = assert_refused(session, "CLASS_NOT_OPEN", voucher, cls)

    assert "不能验券" in error.message


# --- 7. institution not suspended ----------------------------------------------------------------

def test_suspended_institution_cannot_verify(session):
    voucher = claimed_voucher()
    inst = f.institution(status=SUSPENDED, suspended_reason="本年度累计3次培训质量问题")
    cls = f.training_class(inst)
    session.commit()

    error = assert_refused(session, "INSTITUTION_SUSPENDED", voucher, cls)

    assert error.message == "本机构已被暂停验券资格：本年度累计3次培训质量问题"


# --- scope, one voucher per class, a withdrawn trainee ----------------------------------------------

def test_another_institutions_class_is_not_found_for_an_institution(session):
    voucher = claimed_voucher()
    theirs = f.training_class()
    mine = f.institution()
    session.commit()
    before = snapshot(session, voucher.id)

    with pytest.raises(errors.ClassNotFound):  # its existence is not the caller's to learn
        verify.verify(session, qr=f.qr_for(voucher, TS), class_id=theirs.id, actor=f.institution_actor(mine),
                      qr_secret=app_qr_secret(), now=NOW, now_ts=TS)

    assert snapshot(session, voucher.id) == before


def test_a_second_voucher_of_the_same_person_for_the_same_class_is_refused(session):
    owner = f.person()
    training_class = f.training_class()
    first = claimed_voucher(owner=owner)
    second = claimed_voucher(make_template(name="另一张券"), owner=owner)
    session.commit()
    assert run_verify(session, first, training_class).result == verify.VERIFIED

    error = assert_refused(session, "ALREADY_IN_CLASS", second, training_class)
    assert first.code[-4:] in error.message


def test_verifying_a_withdrawn_trainee_enrols_them_again(session):
    voucher = claimed_voucher()
    training_class = f.training_class()
    f.enrol(training_class, voucher.person, status="withdrawn")
    session.commit()

    run_verify(session, voucher, training_class)

    enrolment = session.scalar(select(Enrolment))
    assert (enrolment.status, enrolment.voucher_id) == ("enrolled", voucher.id)


def test_after_enrolment_closes_an_enrolled_trainee_is_still_verified(session):
    voucher = claimed_voucher()
    training_class = f.training_class(status=CLASS_CLOSED)
    f.enrol(training_class, voucher.person)
    session.commit()
    assert run_verify(session, voucher, training_class).result == verify.VERIFIED
