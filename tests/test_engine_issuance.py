"""发券 (PRODUCT.md §4): the class roster (all-or-nothing), directed issuance (auto-claimed, bound,
notified, stock all-or-nothing) and general issuance (offers to the filtered population only, none
of a template that has lapsed)."""
from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select

from h5app.models import AuditEvent, Enrolment, Issuance, Notification, Person, Voucher, VoucherTemplate
from h5app.models.classes import CLASS_COMPLETED
from h5app.models.vouchers import CLAIMED, OFFERED, TEMPLATE_CLOSED
from h5app.timeutil import end_of_local_day, local_at
from h5app.vouchers import issuance, roster
from h5app.vouchers.errors import ClaimClosed, ClassNotOpen, NotApplicable, OutOfScope, OutOfStock, ValidationFailed
from tests import factories as f

NOW = local_at(date(2022, 5, 10), time(10))
WINDOW = dict(claim_starts_on=date(2022, 5, 1), claim_ends_on=date(2022, 6, 30))


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def row(name="张三", id_number=None, phone=None):
    return {"name": name, "id_number": id_number or f.valid_id_number(), "phone": phone}


def officer(cls):
    return f.institution_actor(cls.institution)


# --- the roster ----------------------------------------------------------------------------------

def test_roster_enrols_every_row_creating_unknown_people(session):
    cls = f.training_class()
    known = f.person(name="王建国")
    session.commit()
    new_id = f.valid_id_number()

    added = roster.add_trainees(session, cls, [row("王建国", known.id_number), row("李梅", new_id, "13800000001")],
                                officer(cls))

    assert len(added) == 2
    newcomer = session.scalar(select(Person).where(Person.id_number == new_id))
    assert (newcomer.name, newcomer.phone, newcomer.verified_via) == ("李梅", "13800000001", "roster")
    assert newcomer.region_code == cls.institution.region_code
    assert {e.person_id for e in session.scalars(select(Enrolment))} == {known.id, newcomer.id}
    [event] = f.audit_events(action="class.roster")
    assert event.details["added"] == 2


def test_roster_skips_people_already_on_it(session):
    cls = f.training_class()
    worker = f.person()
    f.enrol(cls, worker)
    session.commit()

    added = roster.add_trainees(session, cls, [row(worker.name, worker.id_number)], officer(cls))

    assert added == []
    assert count(session, Enrolment) == 1


def test_roster_reports_every_bad_row_and_imports_nothing(session):
    cls = f.training_class()
    session.commit()
    good = f.valid_id_number()
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    rows = [
        row("张三", good),
        row("李四", bad_check),
        row("王五", good),           # duplicate of row 1
        row("", f.valid_id_number()),
        row("赵六", f.valid_id_number(), phone="12345"),
        row("孙七", f.valid_id_number()),  # fine, but nothing is imported
    ]

    with pytest.raises(ValidationFailed) as caught:
        roster.add_trainees(session, cls, rows, officer(cls))

    reported = [(e.index, e.field) for e in caught.value.details["rows"]]
    assert reported == [(2, "id_number"), (3, "id_number"), (4, "name"), (5, "phone")]
    messages = {e.index: e.message for e in caught.value.details["rows"]}
    assert messages[2] == "身份证号码校验位不正确，请核对后重新输入"
    assert messages[3] == "身份证号与第1行重复"
    assert count(session, Person) == 0
    assert count(session, Enrolment) == 0
    assert count(session, AuditEvent) == 0


@pytest.mark.parametrize("bad, field, message", [
    (dict(id_number="330602198501010000"), "id_number", "身份证号码校验位不正确，请核对后重新输入"),
    (dict(id_number="33060219850101"), "id_number", "身份证号码应为18位，最后一位可以是数字或X"),
    (dict(id_number=""), "id_number", "请填写身份证号码"),
    (dict(name=""), "name", "请填写姓名"),
    (dict(name="   "), "name", "请填写姓名"),
    (dict(name="张3"), "name", "姓名格式不正确：请填写身份证上的姓名（少数民族姓名中间用“·”）"),
    (dict(name="<b>x</b>"), "name", "姓名格式不正确：请填写身份证上的姓名（少数民族姓名中间用“·”）"),
    (dict(id_number="990602198501010011"), "id_number", "身份证号码的地区码不存在，请核对前6位"),
    (dict(phone="1380000"), "phone", "手机号应为11位数字"),
])
def test_roster_row_validation(session, bad, field, message):
    cls = f.training_class()
    session.commit()

    with pytest.raises(ValidationFailed) as caught:
        roster.add_trainees(session, cls, [row("张三"), {**row("李四"), **bad}], officer(cls))

    [error] = caught.value.details["rows"]
    assert (error.index, error.field, error.message) == (2, field, message)
    assert count(session, Enrolment) == 0 and count(session, Person) == 0


def test_roster_refuses_a_name_that_differs_from_the_real_name_on_record(session):
    cls = f.training_class()
    known = f.person(name="王建国")
    session.commit()

    with pytest.raises(ValidationFailed) as caught:
        roster.add_trainees(session, cls, [row("王建军", known.id_number)], officer(cls))

    [error] = caught.value.details["rows"]
    assert error.message == "姓名与该身份证号的实名信息不一致"
    assert count(session, Enrolment) == 0


def test_empty_roster_is_refused(session):
    cls = f.training_class()
    session.commit()

    with pytest.raises(ValidationFailed):
        roster.add_trainees(session, cls, [], officer(cls))


def test_roster_of_a_completed_class_is_refused(session):
    cls = f.training_class(status=CLASS_COMPLETED)
    session.commit()

    with pytest.raises(ClassNotOpen):
        roster.add_trainees(session, cls, [row()], officer(cls))
    assert count(session, Enrolment) == 0


# --- directed issuance ---------------------------------------------------------------------------

def class_with_roster(session, size=3):
    cls = f.training_class()
    session.commit()
    roster.add_trainees(session, cls, [row(f"学员{'甲乙丙丁戊'[n]}") for n in range(size)], officer(cls))
    return cls


def test_directed_issue_auto_claims_a_voucher_bound_to_the_class_for_everyone_on_the_roster(session):
    template = f.directed_template(**WINDOW, valid_days=60, stock=10)
    cls = class_with_roster(session, 3)
    people = [e.person_id for e in session.scalars(select(Enrolment).order_by(Enrolment.id))]

    report = issuance.issue_directed(session, template, cls, f.bureau_actor(), now=NOW)

    assert report.rejected == []
    vouchers = session.scalars(select(Voucher).order_by(Voucher.id)).all()
    assert [v.person_id for v in vouchers] == people
    for voucher in vouchers:
        assert (voucher.status, voucher.bound_class_id, voucher.claimed_at) == (CLAIMED, cls.id, NOW)
        assert voucher.expires_at == end_of_local_day(date(2022, 7, 9))
        assert voucher.issuance_id == report.issuance.id
        [event] = f.audit_events(voucher_id=voucher.id)
        assert (event.action, event.from_status, event.to_status) == ("voucher.claim", None, CLAIMED)
        assert event.actor_type == "system" and event.reason == "定向券自动领取"
    session.expire_all()
    assert session.get(VoucherTemplate, template.id).claimed_count == 3
    assert session.get(Issuance, report.issuance.id).count == 3


def test_every_worker_is_told_of_a_directed_voucher(session):
    template = f.directed_template(**WINDOW)
    cls = class_with_roster(session, 2)

    report = issuance.issue_directed(session, template, cls, f.bureau_actor(), now=NOW)

    notices = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(n.person_id, n.voucher_id, n.kind) for n in notices] == [
        (v.person_id, v.id, "directed_issued") for v in report.done
    ]
    assert cls.course_name in notices[0].body and template.name in notices[0].body


def test_directed_issue_takes_stock_all_or_nothing(session):
    template = f.directed_template(**WINDOW, stock=2)
    cls = class_with_roster(session, 3)

    with pytest.raises(OutOfStock) as caught:
        issuance.issue_directed(session, template, cls, f.bureau_actor(), now=NOW)

    assert "3人" in caught.value.message
    session.expire_all()
    assert session.get(VoucherTemplate, template.id).claimed_count == 0
    assert count(session, Voucher) == 0
    assert count(session, Notification) == 0
    assert count(session, Issuance) == 0
    assert count(session, AuditEvent, AuditEvent.action.like("issuance.%")) == 0


def test_directed_issue_fits_exactly_the_remaining_stock(session):
    template = f.directed_template(**WINDOW, stock=3)
    cls = class_with_roster(session, 3)

    report = issuance.issue_directed(session, template, cls, f.bureau_actor(), now=NOW)

    assert len(report.done) == 3
    session.expire_all()
    assert session.get(VoucherTemplate, template.id).remaining_stock == 0


def test_issuing_again_to_the_same_roster_gives_nobody_a_second_voucher(session):
    template = f.directed_template(**WINDOW)
    cls = class_with_roster(session, 2)
    issuance.issue_directed(session, template, cls, f.bureau_actor(), now=NOW)

    again = issuance.issue_directed(session, template, cls, f.bureau_actor(), now=NOW)

    assert again.done == []
    assert [code for _, code, _ in again.rejected] == ["ALREADY_CLAIMED", "ALREADY_CLAIMED"]
    assert count(session, Voucher) == 2
    session.expire_all()
    assert session.get(VoucherTemplate, template.id).claimed_count == 2


def test_shaoxing_directed_vouchers_do_not_need_36_months_of_insurance(session):
    template = f.directed_template(policy_code="shaoxing", **WINDOW)
    cls = class_with_roster(session, 1)
    assert session.scalar(select(Person.insurance_months)) == 0

    report = issuance.issue_directed(session, template, cls, f.bureau_actor(), now=NOW)

    assert len(report.done) == 1 and report.rejected == []


def test_directed_issue_skips_roster_people_outside_the_templates_groups(session):
    template = f.directed_template(**WINDOW, eligible_groups=["veteran"])
    cls = f.training_class()
    veteran, other = f.person(groups=["veteran"]), f.person(groups=["unemployed"])
    f.enrol(cls, veteran)
    f.enrol(cls, other)
    session.commit()

    report = issuance.issue_directed(session, template, cls, f.bureau_actor(), now=NOW)

    assert [v.person_id for v in report.done] == [veteran.id]
    assert [(p.id, code) for p, code, _ in report.rejected] == [(other.id, "NOT_ELIGIBLE")]


@pytest.mark.parametrize("make_template, actor_region, error", [
    (lambda: f.template(**WINDOW), "330600", NotApplicable),                                # a general template
    (lambda: f.directed_template(**WINDOW, occupation="焊工"), "330600", NotApplicable),    # not for this class
    (lambda: f.directed_template(**WINDOW, status=TEMPLATE_CLOSED), "330600", ClaimClosed),
    (lambda: f.directed_template(**WINDOW), "320200", OutOfScope),                         # another region's bureau
])
def test_directed_issue_is_refused_and_writes_nothing(session, make_template, actor_region, error):
    template = make_template()
    cls = class_with_roster(session, 2)

    with pytest.raises(error):
        issuance.issue_directed(session, template, cls, f.bureau_actor(actor_region), now=NOW)

    session.rollback()
    assert count(session, Voucher) == 0 and count(session, Notification) == 0 and count(session, Issuance) == 0


# --- general issuance ----------------------------------------------------------------------------

def test_general_issue_offers_vouchers_to_the_filtered_population_only(session):
    template = f.template(**WINDOW, stock=10)
    chosen = f.person(groups=["unemployed"], region_code="330602", insurance_months=30)
    wrong_group = f.person(groups=["graduate"], region_code="330602", insurance_months=30)
    wrong_region = f.person(groups=["unemployed"], region_code="330100", insurance_months=30)
    short_insurance = f.person(groups=["unemployed"], region_code="330602", insurance_months=6)
    outside_district = f.person(groups=["unemployed"], region_code="330621", insurance_months=30)
    session.commit()

    report = issuance.issue_general(session, template, f.bureau_actor(), groups=["unemployed"],
                                    region_code="330602", min_insurance_months=12, now=NOW)

    assert [v.person_id for v in report.done] == [chosen.id]
    assert report.rejected == []
    [voucher] = session.scalars(select(Voucher)).all()
    assert (voucher.person_id, voucher.status, voucher.offered_at) == (chosen.id, OFFERED, NOW)
    assert voucher.claimed_at is None
    assert voucher.expires_at == end_of_local_day(date(2022, 6, 30))
    session.expire_all()
    assert session.get(VoucherTemplate, template.id).claimed_count == 0  # stock is taken at claim
    assert session.get(Issuance, report.issuance.id).count == 1
    [event] = f.audit_events(voucher_id=voucher.id)
    assert (event.action, event.from_status, event.to_status, event.at) == ("voucher.offer", None, OFFERED, NOW)
    for person in (wrong_group, wrong_region, short_insurance, outside_district):
        assert count(session, Voucher, Voucher.person_id == person.id) == 0


def test_general_issue_without_filters_uses_the_templates_own_eligibility(session):
    template = f.template("shaoxing", **WINDOW, eligible_groups=["unemployed", "graduate"])
    graduate = f.person(groups=["graduate"], insurance_months=36)
    unemployed = f.person(groups=["unemployed"], insurance_months=40)
    veteran = f.person(groups=["veteran"], insurance_months=40)
    short = f.person(groups=["unemployed"], insurance_months=35)  # Shaoxing: 36 months for general vouchers
    elsewhere = f.person(groups=["unemployed"], insurance_months=40, region_code="320211")
    session.commit()

    report = issuance.issue_general(session, template, f.bureau_actor(), now=NOW)

    assert sorted(v.person_id for v in report.done) == sorted([graduate.id, unemployed.id])
    for person in (veteran, short, elsewhere):
        assert count(session, Voucher, Voucher.person_id == person.id) == 0


def test_general_issue_reports_who_cannot_have_an_offer(session):
    template = f.template(**WINDOW)
    holder, anonymous, fine = f.person(), f.person(verified_via=None), f.person()
    f.voucher(template, holder, CLAIMED, claimed_at=NOW)
    session.commit()

    report = issuance.issue_general(session, template, f.bureau_actor(), people=[holder, anonymous, fine], now=NOW)

    assert [v.person_id for v in report.done] == [fine.id]
    assert [(p.id, code) for p, code, _ in report.rejected] == [
        (holder.id, "ALREADY_CLAIMED"), (anonymous.id, "NOT_ELIGIBLE"),
    ]
    assert count(session, Voucher) == 2


def test_general_issue_twice_offers_each_person_once(session):
    template = f.template(**WINDOW)
    worker = f.person()
    session.commit()
    issuance.issue_general(session, template, f.bureau_actor(), now=NOW)

    again = issuance.issue_general(session, template, f.bureau_actor(), now=NOW + timedelta(days=1))

    assert again.done == [] and len(again.rejected) == 1
    assert count(session, Voucher, Voucher.person_id == worker.id) == 1


@pytest.mark.parametrize("make_template, actor_region, error", [
    (lambda: f.directed_template(**WINDOW), "330600", NotApplicable),
    (lambda: f.template(**WINDOW, status=TEMPLATE_CLOSED), "330600", ClaimClosed),
    (lambda: f.template(**WINDOW), "320200", OutOfScope),
])
def test_general_issue_is_refused_and_writes_nothing(session, make_template, actor_region, error):
    template = make_template()
    f.person()
    session.commit()

    with pytest.raises(error):
        issuance.issue_general(session, template, f.bureau_actor(actor_region), now=NOW)

    session.rollback()
    assert count(session, Voucher) == 0 and count(session, Issuance) == 0


@pytest.mark.parametrize("kind, words", f.LAPSED)
def test_the_engine_refuses_general_issuance_of_a_lapsed_template(session, kind, words):
    template = f.lapsed_template(kind)
    f.person()
    session.commit()
    with pytest.raises(ValidationFailed, match=words):
        issuance.issue_general(session, template, f.bureau_actor())
    assert count(session, Voucher, Voucher.template_id == template.id) == 0 and count(session, Issuance) == 0


@pytest.mark.parametrize("window", [
    dict(claim_starts_on=date(2022, 5, 11), claim_ends_on=date(2022, 6, 30)),  # not open yet
    dict(claim_starts_on=date(2022, 4, 1), claim_ends_on=date(2022, 5, 9)),  # closed
    dict(claim_starts_on=date(2022, 4, 1), claim_ends_on=date(2022, 6, 30), valid_until=date(2022, 5, 9)),
])
def test_directed_issue_outside_the_templates_window_is_refused(session, window):
    template = f.directed_template(**window)
    cls = class_with_roster(session, 2)

    with pytest.raises(ClaimClosed):
        issuance.issue_directed(session, template, cls, f.bureau_actor(), now=NOW)

    assert count(session, Voucher) == 0 and count(session, Issuance) == 0


def test_chongqing_directed_auto_claim_keeps_one_claim_per_type_per_year(session):
    f.region("500000", "重庆市", "chongqing")
    values = dict(region_code="500000", voucher_type="家政培训券", **WINDOW)
    earlier = f.template("chongqing", name="上半年家政券", **values)
    template = f.directed_template(policy_code="chongqing", **values)
    cls = f.training_class(f.institution(region_code="500103"))
    holder, newcomer = f.person(region_code="500103"), f.person(region_code="500103")
    f.voucher(earlier, holder, CLAIMED, claimed_at=NOW - timedelta(days=30))
    f.enrol(cls, holder)
    f.enrol(cls, newcomer)
    session.commit()

    report = issuance.issue_directed(session, template, cls, f.bureau_actor("500000"), now=NOW)

    assert [v.person_id for v in report.done] == [newcomer.id]
    assert [(p.id, code) for p, code, _ in report.rejected] == [(holder.id, "YEARLY_LIMIT_REACHED")]


def test_first_issuance_puts_a_draft_template_into_force_and_audits_it(session):
    template = f.directed_template(**WINDOW, status="draft")
    cls = class_with_roster(session, 1)

    issuance.issue_directed(session, template, cls, f.bureau_actor(), now=NOW)

    assert session.get(VoucherTemplate, template.id).status == "active"
    [event] = f.audit_events(action="template.activate")
    assert event.details == {"template_id": template.id, "from": "draft"}
