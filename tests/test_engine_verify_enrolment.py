"""验券 (PRODUCT.md §4), what it does: the voucher used and audited, the trainee enrolled (again, if
withdrawn); a repeat at the same class is harmless and changes nothing; a second use elsewhere, a
second voucher for the same class or another institution's class is refused.
The other checks, the yearly limits, their order and the statements a verification costs are in
the test_engine_verify_*.py modules beside this one."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from h5app.models import Enrolment, Voucher
from h5app.models.classes import CLASS_CLOSED
from h5app.models.vouchers import CLAIMED, USED
from h5app.vouchers import app_qr_secret, errors, verify
from tests import factories as f
from tests.verify_support import NOW, TS, assert_refused, claimed_voucher, make_template, run_verify, snapshot


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
