"""验券 (PRODUCT.md §4): the checks in their documented order, each with its own error; a repeat at
the same class is harmless; any failure changes nothing; yearly limits are region policy."""
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, inspect, select

from h5app.models import AuditEvent, Enrolment, Voucher
from h5app.models.classes import CLASS_CLOSED, CLASS_COMPLETED, CLASS_DRAFT, CLASS_OPEN
from h5app.models.institutions import ACTIVE, SUSPENDED
from h5app.models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED
from h5app.policies import ensure_policies
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


# --- 8. yearly limits (region policy) ------------------------------------------------------------

def wuxi_template(**values):
    f.region("320200", "无锡市", "wuxi")
    return make_template("wuxi", **{"region_code": "320200", **values})


def wuxi_class(**values):
    return f.training_class(f.institution(region_code="320211"), **values)


@pytest.mark.parametrize("earlier_occupation, earlier_at, earlier_status, allowed", [
    ("电工", NOW - timedelta(days=30), USED, False),
    ("电工", NOW - timedelta(days=30), SETTLED, False),
    ("焊工", NOW - timedelta(days=30), USED, True),
    ("电工", local_at(date(2021, 12, 31), time(23, 30)), SETTLED, True),   # last local year
    ("电工", local_at(date(2022, 1, 1), time(0, 30)), SETTLED, False),     # 2021-12-31 16:30 UTC, but 2022 locally
])
def test_wuxi_allows_one_voucher_training_per_occupation_per_year(
        session, earlier_occupation, earlier_at, earlier_status, allowed):
    owner = f.person(region_code="320211")
    used_voucher(wuxi_template(name="无锡券一"), owner, wuxi_class(occupation=earlier_occupation),
                 used_at=earlier_at, status=earlier_status)
    voucher = claimed_voucher(wuxi_template(name="无锡券二"), owner)
    cls = wuxi_class(occupation="电工")
    session.commit()

    if allowed:
        assert run_verify(session, voucher, cls).result == verify.VERIFIED
    else:
        error = assert_refused(session, "YEARLY_LIMIT_REACHED", voucher, cls)
        assert error.message == "按本地政策，每人每年同一职业（工种）只能持券参加一次培训，您本年度已持券参加过电工培训"


@pytest.mark.parametrize("earlier_at, allowed", [
    (NOW - timedelta(days=30), False),
    (local_at(date(2021, 12, 31), time(12)), True),
])
def test_shaoxing_allows_one_activation_per_person_per_year(session, earlier_at, allowed):
    owner = f.person()
    used_voucher(make_template("shaoxing", name="绍兴券一"), owner, f.training_class(occupation="焊工"),
                 used_at=earlier_at)
    voucher = claimed_voucher(make_template("shaoxing", name="绍兴券二"), owner)
    cls = f.training_class()
    session.commit()

    if allowed:
        assert run_verify(session, voucher, cls).result == verify.VERIFIED
    else:
        error = assert_refused(session, "YEARLY_LIMIT_REACHED", voucher, cls)
        assert error.message == "按本地政策，每人每年最多使用1次培训券，本年度次数已用完"


@pytest.mark.parametrize("earlier_uses, allowed", [(0, True), (2, True), (3, False)])
def test_chongqing_allows_at_most_three_uses_per_person_per_year(session, earlier_uses, allowed):
    f.region("500000", "重庆市", "chongqing")
    owner = f.person(region_code="500103")
    inst = f.institution(region_code="500103")
    for n in range(earlier_uses):
        used_voucher(make_template("chongqing", region_code="500000", name=f"重庆券{n}"), owner,
                     f.training_class(inst, occupation=f"工种{n}"), used_at=NOW - timedelta(days=10 + n))
    voucher = claimed_voucher(make_template("chongqing", region_code="500000", name="重庆券新"), owner)
    cls = f.training_class(inst)
    session.commit()

    if allowed:
        assert run_verify(session, voucher, cls).result == verify.VERIFIED
    else:
        error = assert_refused(session, "YEARLY_LIMIT_REACHED", voucher, cls)
        assert error.message == "按本地政策，每人每年最多使用3次培训券，本年度次数已用完"


def test_default_policy_has_no_yearly_use_limit(session):
    owner = f.person()
    for n in range(3):
        used_voucher(make_template(name=f"券{n}"), owner, f.training_class())
    voucher = claimed_voucher(make_template(name="新券"), owner)
    cls = f.training_class()
    session.commit()

    assert run_verify(session, voucher, cls).result == verify.VERIFIED


def test_yearly_limits_are_policy_data_not_code(session):
    ensure_policies(session)["default"].uses_per_year = 1  # a bureau edits its policy row
    owner = f.person()
    used_voucher(make_template(name="券一"), owner, f.training_class())
    voucher = claimed_voucher(make_template(name="券二"), owner)
    cls = f.training_class()
    session.commit()

    error = assert_refused(session, "YEARLY_LIMIT_REACHED", voucher, cls)

    assert "最多使用1次" in error.message


# --- the order of the checks ---------------------------------------------------------------------

VERIFY_ERRORS = [
    errors.QrInvalid, errors.QrExpired, errors.VoucherNotFound, errors.PersonMismatch, errors.VoucherNotClaimed,
    errors.VoucherAlreadyUsed, errors.VoucherSettled, errors.VoucherRevoked, errors.VoucherExpired,
    errors.NotApplicable, errors.ClassNotOpen, errors.InstitutionSuspended, errors.YearlyLimitReached,
]


def test_each_verify_check_has_its_own_code_and_chinese_message():
    codes = [error.code for error in VERIFY_ERRORS]
    assert len(set(codes)) == len(codes)
    for error in VERIFY_ERRORS:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in error.default_message), error.code
        assert error().to_dict() == {"code": error.code, "message": error.default_message}


def build(session, defects: set):
    """A voucher and a class with the listed defects, each one independent of the others."""
    inst = f.institution(status=SUSPENDED if "suspended" in defects else ACTIVE, suspended_reason="测试暂停")
    cls = f.training_class(inst, status=CLASS_CLOSED if "class_closed" in defects else CLASS_OPEN)
    owner = f.person()
    template = make_template("shaoxing", valid_days=365, occupation="焊工" if "not_applicable" in defects else None)
    if "yearly_limit" in defects:
        used_voucher(make_template("shaoxing", name="本年已激活"), owner, f.training_class())
    if "used_elsewhere" in defects or "settled" in defects:
        voucher = used_voucher(template, owner, f.training_class(),
                               status=SETTLED if "settled" in defects else USED)
    elif "revoked" in defects:
        voucher = claimed_voucher(template, owner, status=REVOKED, revoked_at=NOW)
    else:
        voucher = claimed_voucher(template, owner)
    if "expired" in defects:
        voucher.expires_at = NOW - timedelta(hours=1)
    session.commit()
    kwargs = {}
    if "qr_forged" in defects:
        kwargs["qr"] = _tampered(f.qr_for(voucher, TS))
    elif "qr_stale" in defects:
        kwargs["qr"] = f.qr_for(voucher, TS - 60)
    if "person_mismatch" in defects:
        kwargs["id_number"] = f.valid_id_number()
    return voucher, cls, kwargs


@pytest.mark.parametrize("defects, code", [
    ({"qr_forged", "person_mismatch", "used_elsewhere", "suspended"}, "QR_INVALID"),
    ({"qr_stale", "person_mismatch", "expired"}, "QR_EXPIRED"),
    ({"person_mismatch", "used_elsewhere", "not_applicable"}, "PERSON_MISMATCH"),
    ({"used_elsewhere", "not_applicable", "class_closed", "suspended", "yearly_limit"}, "VOUCHER_ALREADY_USED"),
    ({"settled", "not_applicable", "suspended"}, "VOUCHER_SETTLED"),
    ({"revoked", "expired", "suspended"}, "VOUCHER_REVOKED"),
    ({"expired", "suspended"}, "VOUCHER_EXPIRED"),
    ({"expired", "not_applicable", "class_closed", "yearly_limit"}, "VOUCHER_EXPIRED"),
    ({"not_applicable", "class_closed", "suspended", "yearly_limit"}, "NOT_APPLICABLE"),
    ({"class_closed", "suspended", "yearly_limit"}, "CLASS_NOT_OPEN"),
    ({"suspended", "yearly_limit"}, "INSTITUTION_SUSPENDED"),
    ({"yearly_limit"}, "YEARLY_LIMIT_REACHED"),
])
def test_the_first_failing_check_in_documented_order_decides_the_error(session, defects, code):
    voucher, cls, kwargs = build(session, defects)

    assert_refused(session, code, voucher, cls, **kwargs)


def test_fixing_each_problem_in_turn_reveals_the_next_check(session):
    """One voucher with every problem at once; mend them one by one and watch the checks go by."""
    voucher, cls, _ = build(session, {"expired", "not_applicable", "class_closed", "suspended", "yearly_limit"})
    template, inst = voucher.template, cls.institution
    stranger_id = f.valid_id_number()
    session.commit()

    def fix(change):
        change()
        session.commit()

    assert_refused(session, "QR_INVALID", voucher, cls, qr=_tampered(f.qr_for(voucher, TS)), id_number=stranger_id)
    assert_refused(session, "QR_EXPIRED", voucher, cls, qr=f.qr_for(voucher, TS - 90), id_number=stranger_id)
    assert_refused(session, "PERSON_MISMATCH", voucher, cls, id_number=stranger_id)
    assert_refused(session, "VOUCHER_EXPIRED", voucher, cls)
    fix(lambda: setattr(voucher, "expires_at", NOW + timedelta(days=1)))
    assert_refused(session, "NOT_APPLICABLE", voucher, cls)
    fix(lambda: setattr(template, "occupation", None))
    assert_refused(session, "CLASS_NOT_OPEN", voucher, cls)
    fix(lambda: setattr(cls, "status", CLASS_OPEN))
    assert_refused(session, "INSTITUTION_SUSPENDED", voucher, cls)
    fix(lambda: setattr(inst, "status", ACTIVE))
    assert_refused(session, "YEARLY_LIMIT_REACHED", voucher, cls)
    earlier = session.scalar(select(Voucher).where(Voucher.person_id == voucher.person_id, Voucher.id != voucher.id))
    fix(lambda: setattr(earlier, "used_at", datetime(2021, 6, 1)))

    assert run_verify(session, session.get(Voucher, voucher.id), cls).result == verify.VERIFIED


def test_already_verified_is_answered_before_later_checks(session):
    """A repeat scan at the same class is not a new use: a suspension since then does not turn it into an error."""
    voucher = claimed_voucher()
    cls = f.training_class()
    session.commit()
    run_verify(session, voucher, cls)
    cls.institution.status = SUSPENDED
    session.commit()

    assert run_verify(session, session.get(Voucher, voucher.id), cls).result == verify.ALREADY_VERIFIED


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
