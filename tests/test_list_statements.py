"""The list pages cost the same statements for 3 rows as for 30: each list loads its children (lines,
people, vouchers, results, attendance) in one query each, a page at a time, so an N+1 cannot come
back unnoticed."""
import pytest

from h5app.extensions import db
from h5app.timeutil import utcnow
from h5app.vouchers import audit, settlement as settlement_service

from . import factories as f
from .auth_support import staff_sign_in
from .page_support import statements


def count_for(client, path: str) -> int:
    db.session.close()
    with statements() as seen:
        response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return len(seen)


def class_with_trainees(n: int):
    training_class = f.training_class(sessions=2)
    template = f.template()
    for i in range(n):
        person = f.person()
        voucher = f.voucher(template, person, "used", used_at=utcnow(), class_id=training_class.id,
                            institution_id=training_class.institution_id)
        f.enrol(training_class, person, voucher_id=voucher.id)
        f.check_in(training_class.sessions[0], person)
        f.exam_result(training_class, person, i % 2 == 0)
    db.session.commit()
    return training_class


@pytest.mark.parametrize("n", [3, 30])
def test_the_class_trainee_list_costs_the_same_for_3_and_30_trainees(client, n):
    training_class = class_with_trainees(n)
    officer = f.staff("officer", institution_id=training_class.institution_id)
    db.session.commit()
    staff_sign_in(client, officer)
    count = count_for(client, f"/institution/classes/{training_class.id}")
    assert count == TRAINEE_LIST_STATEMENTS, count


# The officer, the class, a page of enrolments and their people, the count, their vouchers, exam
# results, the class's hours, its institution, region and policy (which attendance rule applies), the
# attendance of the page's trainees, who of them has checked in (no 退班 offered then), the sessions,
# the trainees whose enrolment ended (退班, issue 19), the workers' ratings of the class.
TRAINEE_LIST_STATEMENTS = 16


def test_a_class_of_60_trainees_is_shown_50_a_page(client):
    training_class = class_with_trainees(60)
    officer = f.staff("officer", institution_id=training_class.institution_id)
    db.session.commit()
    staff_sign_in(client, officer)
    first = client.get(f"/institution/classes/{training_class.id}").get_data(as_text=True)
    assert "学员（60人）" in first and "第 1 / 2 页" in first and first.count('<tr><td data-label="姓名">') == 50
    second = client.get(f"/institution/classes/{training_class.id}?page=2").get_data(as_text=True)
    assert "第 2 / 2 页" in second and second.count('<tr><td data-label="姓名">') == 10
    for garbage in ("99999999999999999999", "0", "-1", "二"):  # an OFFSET past the driver's integers was a 500
        shown = client.get(f"/institution/classes/{training_class.id}?page={garbage}")
        assert shown.status_code == 200 and "第 1 / 2 页" in shown.get_data(as_text=True), garbage


def settlements_of(n: int):
    """`n` settlement applications of one institution, two lines each."""
    institution = f.institution()
    template = f.template()
    for _ in range(n):
        training_class = f.training_class(inst=institution, sessions=1, status="completed")  # 结业, then 结算
        for _ in range(2):
            person = f.person()
            f.voucher(template, person, "used", used_at=utcnow(), class_id=training_class.id,
                      institution_id=institution.id)
            f.check_in(training_class.sessions[0], person)
            f.exam_result(training_class, person, True)
        db.session.commit()
        settlement_service.apply(db.session, training_class, f.institution_actor(institution))
    db.session.commit()
    return institution


@pytest.mark.parametrize("n", [3, 30])
def test_the_institutions_settlement_list_costs_the_same_for_3_and_30(client, n):
    institution = settlements_of(n)
    officer = f.staff("officer", institution_id=institution.id)
    db.session.commit()
    staff_sign_in(client, officer)
    assert count_for(client, "/institution/settlements") == INSTITUTION_SETTLEMENTS_STATEMENTS


INSTITUTION_SETTLEMENTS_STATEMENTS = 6  # officer, count with totals, page, its lines, institutions, classes


@pytest.mark.parametrize("n", [3, 30])
def test_the_bureaus_settlement_list_costs_the_same_for_3_and_30(client, n):
    settlements_of(n)
    clerk = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, clerk)
    assert count_for(client, "/bureau/settlements") == BUREAU_SETTLEMENTS_STATEMENTS


BUREAU_SETTLEMENTS_STATEMENTS = 8  # one more than before the page named each settlement's class: its classes


@pytest.mark.parametrize("n", [3, 30])
def test_the_audit_log_costs_the_same_for_3_and_30_rows(client, n):
    template = f.template()
    for _ in range(n):
        voucher = f.voucher(template, f.person())
        audit.record(db.session, f.bureau_actor(), "voucher.revoke", voucher=voucher, from_status="claimed",
                     to_status="revoked", region_code="330600", reason="测试")
    clerk = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, clerk)
    assert count_for(client, "/bureau/audit") == AUDIT_LOG_STATEMENTS


AUDIT_LOG_STATEMENTS = 2  # the clerk, one page of rows with their voucher codes
