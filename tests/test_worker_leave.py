"""退出报名 by the worker: before the voucher is verified and before attending, the enrolment ends
and the chosen voucher is free for another class; after, it is the institution's 退班."""
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import AuditEvent, Enrolment, Voucher
from h5app.models.classes import ENROLLED, WITHDRAWN
from h5app.models.vouchers import CLAIMED, USED

from . import factories as f
from .auth_support import signed_in_worker, text_of


def enrolled_with_a_chosen_voucher(client):
    worker = signed_in_worker(client, name="刘强", region_code="330602")
    training_class = f.training_class(course_name="低压电工作业培训")
    voucher = f.voucher(f.template(), worker, CLAIMED, expires_at=f.utcnow_plus(days=30))
    enrolment = f.enrol(training_class, worker, source="self", voucher_id=voucher.id)
    db.session.commit()
    return worker, training_class, voucher, enrolment


def test_the_worker_leaves_and_the_chosen_voucher_is_free_for_another_class(client, session):
    worker, training_class, voucher, enrolment = enrolled_with_a_chosen_voucher(client)
    assert "退出报名" in text_of(client.get(f"/worker/classes/{training_class.id}"))

    page = text_of(client.post(f"/worker/classes/{training_class.id}/leave", follow_redirects=True))

    assert "已退出报名" in page
    session.expire_all()
    left = session.get(Enrolment, enrolment.id)
    assert (left.status, left.voucher_id) == (WITHDRAWN, None)
    assert session.get(Voucher, voucher.id).status == CLAIMED
    assert session.scalar(select(AuditEvent.action).where(AuditEvent.person_id == worker.id)) == "class.leave"
    other = f.training_class(course_name="电工进阶培训")
    db.session.commit()
    assert client.post(f"/worker/classes/{other.id}", data={"voucher": voucher.code}).status_code == 302


def test_after_the_voucher_is_verified_leaving_is_the_institutions_business(client, session):
    worker, training_class, voucher, enrolment = enrolled_with_a_chosen_voucher(client)
    voucher.status, voucher.class_id, voucher.used_at = USED, training_class.id, f.utcnow_plus()
    db.session.commit()
    assert "退出报名" not in text_of(client.get(f"/worker/classes/{training_class.id}"))

    page = text_of(client.post(f"/worker/classes/{training_class.id}/leave", follow_redirects=True))

    assert "请联系培训机构办理退班" in page
    session.expire_all()
    assert session.get(Enrolment, enrolment.id).status == ENROLLED


def test_leaving_a_class_not_enrolled_in_changes_nothing(client, session):
    signed_in_worker(client, name="刘强")
    training_class = f.training_class()
    db.session.commit()
    page = text_of(client.post(f"/worker/classes/{training_class.id}/leave", follow_redirects=True))
    assert "您没有报名该班期" in page
