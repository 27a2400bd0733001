"""通用券 to a matched population (issue 18): the count previewed is the count offered, holders are
skipped and counted, a second or resumed run offers nobody twice, each filter narrows as it says,
the stock is respected, and every bad input is refused with nothing written."""
from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select

from h5app.models import AuditEvent, Issuance, Notification, Person, Voucher, VoucherTemplate
from h5app.models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, TEMPLATE_ACTIVE, TEMPLATE_CLOSED, TEMPLATE_DRAFT
from h5app.timeutil import end_of_local_day, local_at
from h5app.vouchers import population, rules
from h5app.vouchers.errors import (
    ClaimClosed, NotApplicable, OutOfScope, OutOfStock, PopulationChanged, ValidationFailed,
)
from h5app.vouchers.population import Filters
from tests import factories as f

NOW = local_at(date(2022, 5, 10), time(10))
WINDOW = dict(claim_starts_on=date(2022, 5, 1), claim_ends_on=date(2022, 6, 30))


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def offered_to(session, template) -> set[int]:
    return set(session.scalars(select(Voucher.person_id).where(Voucher.template_id == template.id,
                                                               Voucher.status == OFFERED)))


def issue(session, template, filters=Filters(), **kwargs):
    shown = population.preview(session, template, filters, f.bureau_actor(), now=NOW)
    return shown, population.issue(session, template, filters, f.bureau_actor(), expected=shown.count, now=NOW,
                                   **kwargs)


# --- the count is the offers -----------------------------------------------------------------------

def test_the_count_previewed_is_the_number_of_offers_made_each_audited_and_told(session):
    template = f.template(**WINDOW, stock=None, audience="targeted", eligible_groups=["unemployed"])
    chosen = [f.person(groups=["unemployed"]) for _ in range(5)]
    f.person(groups=["graduate"])  # not of the template's groups
    f.person(groups=["unemployed"], verified_via=None)  # no real name
    f.person(groups=["unemployed"], region_code="320211")  # another city
    session.commit()

    shown, result = issue(session, template, chunk=2)

    assert shown.count == 5 and shown.held == 0
    assert result["offered"] == 5 and result["held"] == 0
    assert offered_to(session, template) == {p.id for p in chosen}
    vouchers = session.scalars(select(Voucher).where(Voucher.template_id == template.id)).all()
    assert {v.expires_at for v in vouchers} == {end_of_local_day(date(2022, 6, 30))}
    assert {v.offered_at for v in vouchers} == {NOW} and {v.claimed_at for v in vouchers} == {None}
    assert len({v.code for v in vouchers}) == 5
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "voucher.offer")).all()
    assert sorted(e.voucher_id for e in events) == sorted(v.id for v in vouchers)
    assert {(e.to_status, e.actor_label, e.region_code, e.at) for e in events} == {(OFFERED, "测试经办", "330600", NOW)}
    assert sorted(e.person_id for e in events) == sorted(p.id for p in chosen)
    assert all(e.details == {"issuance_id": result["issuance_id"]} for e in events)
    notices = session.scalars(select(Notification).where(Notification.kind == "general_offered")).all()
    assert sorted(n.voucher_id for n in notices) == sorted(v.id for v in vouchers)
    assert all(n.link == f"/worker/cards/{template.id}" and template.name in n.body and n.created_at == NOW
               for n in notices)
    assert sorted(n.person_id for n in notices) == sorted(p.id for p in chosen)
    issuance = session.get(Issuance, result["issuance_id"])
    assert issuance.count == 5 and issuance.filters["groups"] == []
    [summary] = f.audit_events(action="issuance.general")
    assert summary.details["count"] == 5 and summary.details["issuance_id"] == issuance.id
    assert session.get(VoucherTemplate, template.id).claimed_count == 0  # stock is taken at claim


def test_a_draft_template_is_put_in_force_by_its_first_population_issuance(session):
    template = f.template(**WINDOW, status=TEMPLATE_DRAFT)
    f.person()
    session.commit()
    issue(session, template)
    assert session.get(VoucherTemplate, template.id).status == TEMPLATE_ACTIVE


def test_people_already_holding_the_template_are_skipped_and_counted(session):
    template = f.template(**WINDOW, stock=None)
    holders = [f.person(), f.person(), f.person(), f.person()]
    for holder, status in zip(holders, (OFFERED, CLAIMED, REVOKED, EXPIRED), strict=True):
        f.voucher(template, holder, status)
    newcomers = [f.person(), f.person()]
    session.commit()

    shown, result = issue(session, template)

    assert (shown.count, shown.held) == (2, 4)
    assert (result["offered"], result["held"]) == (2, 4)
    assert count(session, Voucher, Voucher.template_id == template.id) == 6
    assert {v.person_id for v in session.scalars(select(Voucher).where(Voucher.issuance_id == result["issuance_id"]))} \
        == {p.id for p in newcomers}


def test_running_it_again_offers_nobody_twice(session):
    template = f.template(**WINDOW, stock=None)
    for _ in range(3):
        f.person()
    session.commit()
    issue(session, template)

    again = population.preview(session, template, Filters(), f.bureau_actor(), now=NOW)
    assert (again.count, again.held) == (0, 3)
    with pytest.raises(ValidationFailed, match="没有符合条件且尚未持有该券的人员（3人已持有该券）"):
        population.issue(session, template, Filters(), f.bureau_actor(), now=NOW)
    assert count(session, Voucher) == 3 and count(session, Issuance) == 1


def test_a_run_that_died_half_way_is_finished_by_the_next_without_a_second_offer(session):
    template = f.template(**WINDOW, stock=None)
    people = [f.person() for _ in range(5)]
    session.commit()
    calls = []

    def dies_after_the_first_chunk(**progress):
        calls.append(progress)
        if progress.get("processed"):
            raise RuntimeError("the process was killed")

    with pytest.raises(RuntimeError):
        issue(session, template, chunk=2, progress=dies_after_the_first_chunk)
    assert count(session, Voucher) == 2  # the first chunk was committed

    shown, result = issue(session, template, chunk=2)

    assert (shown.count, shown.held, result["offered"]) == (3, 2, 3)
    assert offered_to(session, template) == {p.id for p in people}
    assert count(session, AuditEvent, AuditEvent.action == "voucher.offer") == 5
    assert count(session, Notification) == 5


def test_an_offer_someone_came_to_hold_meanwhile_is_skipped_by_the_unique_index(session):
    template = f.template(**WINDOW)
    worker = f.person()
    f.voucher(template, worker, CLAIMED)
    session.commit()
    other = f.person()
    written = population._insert_offers(session, [worker.id, other.id], template_id=template.id, status=OFFERED,
                                        offered_at=NOW, created_at=NOW)
    assert [person_id for _id, person_id in written] == [other.id]
    session.rollback()
    assert count(session, Voucher, Voucher.person_id == worker.id) == 1


def test_a_population_changed_since_the_preview_is_refused_and_nothing_written(session):
    template = f.template(**WINDOW, stock=None)
    f.person(), f.person()
    session.commit()
    with pytest.raises(PopulationChanged, match="符合条件的人数已从3人变为2人"):
        population.issue(session, template, Filters(), f.bureau_actor(), expected=3, now=NOW)
    assert count(session, Voucher) == 0 and count(session, Issuance) == 0


# --- each filter -------------------------------------------------------------------------------------

def _people(session):
    return dict(
        plain=f.person(groups=["unemployed"], insurance_months=12),
        graduate=f.person(groups=["graduate"], insurance_months=12),
        both=f.person(groups=["graduate", "veteran"], insurance_months=40),
        keqiao=f.person(groups=["unemployed"], region_code="330603", insurance_months=12),
        long_insured=f.person(groups=["unemployed"], insurance_months=60),
        registered=f.person(groups=["unemployed"], insurance_months=12, unemployment_registered_region_code="330602"),
        registered_elsewhere=f.person(groups=["unemployed"], insurance_months=12,
                                      unemployment_registered_region_code="330100"),
        employed=f.person(groups=["rural_migrant"], insurance_months=12, employment_region_code="330603"),
    )


@pytest.mark.parametrize("filters, expected", [
    (Filters(), {"plain", "graduate", "both", "keqiao", "long_insured", "registered", "registered_elsewhere",
                 "employed"}),
    (Filters(groups=("graduate",)), {"graduate", "both"}),
    (Filters(groups=("veteran", "rural_migrant")), {"both", "employed"}),
    (Filters(region_code="330603"), {"keqiao"}),
    (Filters(min_insurance_months=36), {"both", "long_insured"}),
    (Filters(employment="unemployment_registered"), {"registered"}),
    (Filters(employment="employed"), {"employed"}),
    (Filters(groups=("unemployed",), min_insurance_months=36), {"long_insured"}),
])
def test_each_filter_narrows_the_population_as_it_says(session, filters, expected):
    f.region("330602", "越城区", parent="330600")
    f.region("330603", "柯桥区", parent="330600")
    template = f.template(**WINDOW, stock=None)
    people = _people(session)
    session.commit()

    shown, result = issue(session, template, filters)

    wanted = {people[name].id for name in expected}
    assert shown.count == result["offered"] == len(expected)
    assert offered_to(session, template) == wanted


def test_the_region_filter_reads_the_record_region_the_templates_policy_reads(session):
    """Shaoxing reads where the unemployment insurance is paid: insured in 柯桥区 counts for 柯桥区,
    a 柯桥区 hukou with insurance paid in 越城区 does not."""
    f.region("330603", "柯桥区", parent="330600")
    template = f.template("shaoxing", **WINDOW, stock=None)
    record = dict(record_as_of=date(2026, 11, 30), insurance_months=40)
    insured_here = f.person(insurance_region_code="330603", hukou_region_code="330602", region_code="330602",
                            **record)
    f.person(insurance_region_code="330602", hukou_region_code="330603", region_code="330603", **record)
    no_record = f.person(region_code="330603", insurance_months=40)  # judged by 所在地区 until a record exists
    session.commit()

    shown, result = issue(session, template, Filters(region_code="330603"))

    assert offered_to(session, template) == {insured_here.id, no_record.id} and result["offered"] == 2
    assert {(p["region_field"], p["region_code"]) for p in shown.sample} == {("参保地", "330603"),
                                                                             ("所在地区", "330603")}


def test_the_bureaus_groups_narrow_the_templates_own_groups_never_widen_them(session):
    template = f.template(**WINDOW, stock=None, eligible_groups=["unemployed"])
    veteran = f.person(groups=["veteran"])
    both = f.person(groups=["veteran", "unemployed"])
    session.commit()
    _shown, result = issue(session, template, Filters(groups=("veteran",)))
    assert result["offered"] == 1 and offered_to(session, template) == {both.id}
    assert veteran.id not in offered_to(session, template)


def _variety(session):
    """People across every way eligibility can fail or pass."""
    made = []
    for groups in ([], ["unemployed"], ["graduate"], ["graduate", "veteran"]):
        for months in (0, 12, 35, 36, 48):
            for region_code in ("330602", "330600", "330100", None):
                made.append(f.person(groups=groups, insurance_months=months, region_code=region_code))
    made.append(f.person(verified_via=None))
    made.append(f.person(name=""))
    made.append(f.person(groups=None))
    # With a record on file: judged by the record's regions the policy reads, not the 所在地区.
    as_of = date(2026, 11, 30)
    for regions in ({"insurance_region_code": "330602"}, {"hukou_region_code": "330602"},
                    {"insurance_region_code": "330100", "residence_region_code": "330602"},
                    {"employment_region_code": "330600", "unemployment_registered_region_code": "330602"},
                    {"insurance_region_code": "330100"}, {}):
        for months in (0, 40):
            made.append(f.person(record_as_of=as_of, region_code="330602", insurance_months=months,
                                 groups=["graduate"], **regions))
    return made


@pytest.mark.parametrize("policy_code, values", [
    ("default", {}),
    ("default", {"eligible_groups": ["graduate"]}),
    ("default", {"min_insurance_months": 12, "eligible_groups": ["unemployed", "veteran"]}),
    ("shaoxing", {}),  # general vouchers: 36 months of local unemployment insurance
    ("shaoxing", {"region_code": "330602", "eligible_groups": ["graduate"]}),
])
def test_the_sql_population_is_exactly_who_the_claim_rules_let_claim(session, policy_code, values):
    """population.eligible is rules.eligibility_problems in SQL: offered ⇔ could claim."""
    f.region("330602", "越城区", parent="330600")
    template = f.template(policy_code, **{**WINDOW, "stock": None, **values})
    people = _variety(session)
    session.commit()

    found = set(session.scalars(select(Person.id).where(*population.conditions(session, template, Filters()))))

    names = {}
    allowed = {p.id for p in people if not rules.eligibility_problems(p, template, names)}
    assert found == allowed and found  # and not vacuous


# --- stock ---------------------------------------------------------------------------------------------

def test_a_population_beyond_the_stock_left_is_refused_and_nothing_written(session):
    template = f.template(**WINDOW, stock=4, claimed_count=1)
    f.voucher(template, f.person(), OFFERED, expires_at=NOW + timedelta(days=5))  # an open offer counts
    f.voucher(template, f.person(), OFFERED, expires_at=NOW - timedelta(days=5))  # a lapsed one does not
    f.person(), f.person(), f.person()
    session.commit()

    shown = population.preview(session, template, Filters(), f.bureau_actor(), now=NOW)
    assert shown.count == 3
    assert shown.stock_problem == ("该券剩余库存3张，已发出尚未领取1张，最多还能向2人发放；本次符合条件的有3人，"
                                   "超出库存，请增加筛选条件缩小发放范围")
    with pytest.raises(OutOfStock, match="最多还能向2人发放"):
        population.issue(session, template, Filters(), f.bureau_actor(), expected=3, now=NOW)
    assert count(session, Voucher) == 2 and count(session, Issuance) == 0


def test_a_population_within_the_stock_left_is_offered(session):
    template = f.template(**WINDOW, stock=3, claimed_count=1)
    f.person(), f.person()
    session.commit()
    shown, result = issue(session, template)
    assert shown.stock_problem is None and result["offered"] == 2


# --- refusals ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make_template, actor_region, error, words", [
    (lambda: f.directed_template(**WINDOW), "330600", NotApplicable, "定向券请按班期花名册发放"),
    (lambda: f.template(**WINDOW, status=TEMPLATE_CLOSED), "330600", ClaimClosed, "该券模板已关闭"),
    (lambda: f.template(claim_starts_on=date(2022, 4, 1), claim_ends_on=date(2022, 5, 9)), "330600",
     ValidationFailed, "该券的领取时间已于2022年5月9日结束，不能再发券"),
    (lambda: f.template(**WINDOW, valid_until=date(2022, 5, 1)), "330600", ValidationFailed, "使用期限已于"),
    (lambda: f.template(**WINDOW), "320200", OutOfScope, "只能为本地区的券模板发券"),
])
def test_a_template_that_cannot_be_issued_is_refused_and_nothing_written(session, make_template, actor_region,
                                                                         error, words):
    template = make_template()
    f.person()
    session.commit()
    for attempt in (lambda: population.preview(session, template, Filters(), f.bureau_actor(actor_region), now=NOW),
                    lambda: population.issue(session, template, Filters(), f.bureau_actor(actor_region), now=NOW)):
        with pytest.raises(error, match=words):
            attempt()
    assert count(session, Voucher) == 0 and count(session, Issuance) == 0


@pytest.mark.parametrize("filters, field, words", [
    (Filters(region_code="330100"), "region_code", "所选地区不在该券的使用地区内"),
    (Filters(groups=("astronaut",)), "groups", "重点群体不在可选范围内"),
    (Filters(min_insurance_months=601), "min_insurance_months", "缴费月数应为0至600之间的整数"),
    (Filters(employment="retired"), "employment", "就业状态不在可选范围内"),
])
def test_a_filter_that_cannot_apply_is_refused_with_its_field(session, filters, field, words):
    template = f.template(**WINDOW)
    f.person()
    session.commit()
    with pytest.raises(ValidationFailed, match=words) as refused:
        population.issue(session, template, filters, f.bureau_actor(), now=NOW)
    assert field in refused.value.details["fields"]
    assert count(session, Voucher) == 0


def test_an_empty_population_is_told_plainly(session):
    template = f.template(**WINDOW, eligible_groups=["veteran"])
    f.person(groups=["unemployed"])
    session.commit()
    assert population.preview(session, template, Filters(), f.bureau_actor(), now=NOW).count == 0
    with pytest.raises(ValidationFailed, match="没有符合条件且尚未持有该券的人员，请调整筛选条件"):
        population.issue(session, template, Filters(), f.bureau_actor(), now=NOW)
    assert count(session, Issuance) == 0


# --- the sample and SMS -----------------------------------------------------------------------------------

def test_the_sample_is_twenty_people_masked(session):
    template = f.template(**WINDOW, stock=None)
    people = [f.person(name="欧阳建国", phone=f"1390000{n:04d}") for n in range(25)]
    session.commit()
    shown = population.preview(session, template, Filters(), f.bureau_actor(), now=NOW)
    assert shown.count == 25 and len(shown.sample) == 20
    first = shown.sample[0]
    assert first["name"] == "欧**国" and first["phone"] == "139****0000"
    assert first["id_number"] == people[0].id_number[:4] + "*" * 10 + people[0].id_number[-4:]
    assert not any(p.id_number in str(shown.sample) or p.phone in str(shown.sample) for p in people)


def test_each_person_with_a_phone_gets_an_sms_when_a_sender_is_given_and_a_refusal_does_not_stop_it(session):
    template = f.template(**WINDOW, stock=None)
    f.person(phone="13900000001"), f.person(phone="13900000002"), f.person(phone=None)
    session.commit()
    sent = []

    def gateway(phone, text):
        if phone.endswith("2"):
            raise RuntimeError("gateway refused")
        sent.append((phone, text))

    _shown, result = issue(session, template, sms=gateway)

    assert result["offered"] == 3 and result["phones"] == 2
    assert (result["sms_sent"], result["sms_failed"]) == (1, 1)
    assert sent[0][0] == "13900000001" and template.name in sent[0][1] and "卡券中心" in sent[0][1]
