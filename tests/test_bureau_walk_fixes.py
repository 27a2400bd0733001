"""Fixes from walking the bureau (人社部门) and institution pages: the 审计日志 stays inside the clerk's
region, a draft template is put in force from its page, an application whose every line was
rejected is 已驳回 (not 已拨付), no settlement before 结业, a Chinese 409 page, and every audit action
has a Chinese label."""
import ast
import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.routing.converters import AnyConverter

import h5app
from h5app.extensions import db
from h5app.models import AuditEvent, PaymentBatch, Settlement, Voucher
from h5app.models.class_review import REVIEW_APPROVE, REVIEW_RESUBMIT, REVIEW_RETURN, REVIEW_SUBMIT
from h5app.models.classes import CLASS_CANCELLED, CLASS_CLOSED, CLASS_COMPLETED, CLASS_OPEN
from h5app.models.settlement import S_REJECTED
from h5app.models.vouchers import TEMPLATE_ACTIVE, TEMPLATE_CLOSED, TEMPLATE_DRAFT, USED
from h5app.timeutil import local_today, utcnow
from h5app.vouchers import audit, enrolment, exam_results, payees, presence, settlement, states
from h5app.vouchers.errors import ClassNotFinished, SettlementError

from . import factories as f
from .auth_support import sign_in, staff_sign_in
from .migration_support import empty_database


# --- 1. 审计日志: only the clerk's region -----------------------------------------------------------

def regions():
    f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    f.region("330603", "柯桥区", parent="330600")
    f.region("370100", "济南市")


@pytest.fixture
def keqiao(client, new_client):
    """柯桥区 (Shaoxing): a school, its officer signed in through the login page, a worker of 柯桥
    who enrolled, exam results recorded, the worker's own payee card."""
    regions()
    school = f.institution(name="柯桥电工学校", region_code="330603")
    officer = f.staff("officer", username="kq_officer1", institution_id=school.id)
    cls = f.training_class(school, course_name="柯桥电工班")
    worker = f.person(name="柯小桥", region_code="330603", id_number=f.valid_id_number("330603"))
    db.session.commit()
    browser = new_client()
    assert browser.post("/login", data={"username": "kq_officer1", "password": f.PASSWORD}).status_code == 302
    enrolment.enrol(db.session, worker, cls)
    exam_results.record_results(db.session, cls, {worker.id: True}, audit.Actor.for_staff(officer))
    payees.set_worker_account(db.session, worker, {"account_name": "柯小桥", "bank_name": "中国工商银行",
                                                   "account_number": f.CARD_NUMBER}, audit.Actor.for_person(worker))
    db.session.commit()
    return dict(school=school, worker=worker, officer=officer)


def clerk_of(client, region_code):
    user = f.staff("bureau", region_code=region_code)
    db.session.commit()
    staff_sign_in(client, user)
    return user


KEQIAO_WORDS = ("kq_officer1", "登录", "录入考核结果", "报名", "设置收款账户")


def test_events_without_a_region_of_their_own_are_recorded_in_their_institutions_or_persons_region(keqiao):
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
        ("staff.login", "class.enrol", "class.results", "payee.set")))).all()
    assert sorted(r.action for r in rows) == ["class.enrol", "class.results", "payee.set", "staff.login"]
    assert {r.region_code for r in rows} == {"330603"}


def test_another_citys_clerk_does_not_see_shaoxing_logins_results_enrolments_or_payees(client, keqiao):
    clerk_of(client, "370100")
    page = client.get("/bureau/audit").get_data(as_text=True)
    assert "没有符合条件的记录" in page
    for word in ("kq_officer1", "录入考核结果", "设置收款账户", "柯小"):
        assert word not in page
    export = client.get("/bureau/audit.csv").get_data().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(export)))[1:] == []


def test_filters_by_another_regions_institution_or_person_find_nothing_and_confirm_nothing(client, keqiao):
    clerk_of(client, "370100")
    by_school = client.get(f"/bureau/audit?institution={keqiao['school'].code}").get_data(as_text=True)
    assert "没有符合条件的记录" in by_school and "kq_officer1" not in by_school
    worker = keqiao["worker"]
    by_person = client.get(f"/bureau/audit?id_number={worker.id_number}").get_data(as_text=True)
    assert "没有符合条件的记录" in by_person and "（无此人）" in by_person
    assert worker.id_number[-4:] not in by_person  # the masked number would confirm the person exists
    by_id = client.get(f"/bureau/audit?person={worker.id}").get_data(as_text=True)
    assert "（无此人）" in by_id and "没有符合条件的记录" in by_id
    export = client.get(f"/bureau/audit.csv?person={worker.id}").get_data().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(export)))[1:] == []


def test_a_district_clerk_does_not_see_the_neighbouring_districts_events(client, keqiao):
    clerk_of(client, "330602")  # 越城区; the events are 柯桥区's
    page = client.get("/bureau/audit").get_data(as_text=True)
    assert "没有符合条件的记录" in page and "kq_officer1" not in page


def test_the_citys_clerk_sees_its_districts_logins_results_and_enrolments(client, keqiao):
    clerk_of(client, "330600")
    page = client.get("/bureau/audit").get_data(as_text=True)
    for word in KEQIAO_WORDS:
        assert word in page
    by_school = client.get(f"/bureau/audit?institution={keqiao['school'].code}").get_data(as_text=True)
    assert "录入考核结果" in by_school
    worker = keqiao["worker"]
    by_person = client.get(f"/bureau/audit?id_number={worker.id_number}").get_data(as_text=True)
    assert "报名" in by_person and worker.id_number[-4:] in by_person


def test_an_event_of_no_region_institution_or_person_is_no_regional_clerks(client):
    regions()
    audit.record(db.session, audit.Actor.system("夜间任务"), "targets.import", details={"rows": 1})
    db.session.commit()
    clerk_of(client, "330600")
    assert "夜间任务" not in client.get("/bureau/audit").get_data(as_text=True)


# --- 6. every audit action has a Chinese label ----------------------------------------------------

SOURCE = Path(h5app.__file__).resolve().parent
RECORDERS = {"record": 2, "record_selected": 2, "values": 1}  # audit.<name>: the action's position


def _action_argument(call: ast.Call, module: Path):
    """The action argument of an audit write, or None when `call` is not one: audit.record,
    audit.values, audit.record_selected, staffing.record (and `record` inside staffing.py)."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id == "audit" and func.attr in RECORDERS:
            position = RECORDERS[func.attr]
        elif func.value.id == "staffing" and func.attr == "record":
            position = 0
        else:
            return None
    elif isinstance(func, ast.Name) and func.id == "record" and module.name == "staffing.py":
        position = 0
    else:
        return None
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == "action"), None)


def _written_actions():
    """(constants, f-string prefixes, other expressions) of every audit write in h5app, read from
    the source tree, so a new call site is checked without anyone listing it here."""
    constants, prefixes, dynamic = set(), set(), set()
    for module in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Name) and node.func.id == "dict":  # rows written by a plain INSERT
                found = next((k.value for k in node.keywords if k.arg == "action"), None)
                if isinstance(found, ast.Constant) and isinstance(found.value, str) and "." in found.value:
                    constants.add(found.value)
                continue
            argument = _action_argument(node, module)
            if argument is None:
                continue
            choices = [argument.body, argument.orelse] if isinstance(argument, ast.IfExp) else [argument]
            for choice in choices:  # 'settlement.submit' if submit else 'settlement.draft'
                if isinstance(choice, ast.Constant):
                    constants.add(choice.value)
                elif isinstance(choice, ast.JoinedStr):
                    prefixes.add(choice.values[0].value)
                else:
                    dynamic.add((module.relative_to(SOURCE).as_posix(), ast.unparse(choice)))
    return constants, prefixes, dynamic


def _staff_actions(app):
    """The actions the staff pages' <any(...)> route offers; `reset` is written as staff.reset_password."""
    items = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("bureau.staff_action", "institution.staff_action"):
            items |= next(c for c in rule._converters.values() if isinstance(c, AnyConverter)).items
    return items - {"reset"}


def test_every_action_the_app_writes_to_the_audit_log_has_a_chinese_label(app):
    from h5app.bureau.oversight import ACTION_LABELS  # once the app is built: its blueprint's modules import each other

    constants, prefixes, dynamic = _written_actions()
    # What each f-string's placeholder can be, from the constants that fill it.
    expansions = {
        "class.": {CLASS_OPEN, CLASS_CLOSED, REVIEW_SUBMIT, REVIEW_RESUBMIT, REVIEW_APPROVE, REVIEW_RETURN},
        "checkin.": set(presence.IN_PERSON),
        "checkout.": set(presence.IN_PERSON),
        "staff.": _staff_actions(app),
        "attendance.correction.": {"approve", "refuse"},
    }
    # The two writes whose action is not spelled at the call: the state machine's and staffing.record's.
    assert dynamic == {("vouchers/states.py", "action_for(from_status, to_status)"), ("staffing.py", "action")}
    assert prefixes <= set(expansions), f"an f-string action to list here: {prefixes - set(expansions)}"
    written = constants | set(states.ACTIONS.values()) | set(states.MOVE_ACTIONS.values())
    written |= {prefix + value for prefix in prefixes for value in expansions[prefix]}
    assert {"people.import", "people.upsert", "voucher.claim", "staff.login"} <= written  # the walk found them
    assert sorted(written - set(ACTION_LABELS)) == []
    assert all(re.search(r"[\u4e00-\u9fff]", ACTION_LABELS[a]) for a in written)


def test_people_imports_are_shown_in_words_in_the_log_and_its_export(client):
    regions()
    actor = f.bureau_actor()
    audit.record(db.session, actor, "people.import", region_code="330600", details={"task_id": 1})
    audit.record(db.session, actor, "people.upsert", region_code="330600", details={"items": 2})
    db.session.commit()
    clerk_of(client, "330600")
    page = client.get("/bureau/audit").get_data(as_text=True)
    export = client.get("/bureau/audit.csv").get_data().decode("utf-8-sig")
    for text in (page, export):
        assert "导入人员信息" in text and "接口推送人员信息" in text and "people." not in text


# --- 2. 生效 (put in force) from the template's page ------------------------------------------------

@pytest.fixture
def shaoxing_clerk(client):
    regions()
    return clerk_of(client, "330600")


def open_draft(**values):
    """A draft general template for open claiming (符合条件者均可领取，领完为止), claimable now."""
    template = f.template(name="2027年就业技能培训券", status=TEMPLATE_DRAFT, audience="open", **values)
    db.session.commit()
    return template


def activations():
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "template.activate")).all()


def test_a_draft_open_template_is_put_in_force_from_its_page_and_audited_as_the_apis(client, shaoxing_clerk):
    template = open_draft()
    page = client.get(f"/bureau/templates/{template.id}").get_data(as_text=True)
    assert re.search(rf'<form method="post" action="/bureau/templates/{template.id}/activation"\s+'
                     r'data-confirm="确定让“2027年就业技能培训券”生效吗？[^"]*卡券中心领取[^"]*">.*?生效（开始发放）</button>',
                     page, re.S)

    response = client.post(f"/bureau/templates/{template.id}/activation")

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(template), template.id).status == TEMPLATE_ACTIVE
    [event] = activations()
    assert (event.details, event.region_code, event.actor_id) == (
        {"template_id": template.id, "from": TEMPLATE_DRAFT}, "330600", shaoxing_clerk.id)
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "券模板已生效" in after and "卡券中心领取" in after and "生效（开始发放）" not in after


def test_putting_in_force_a_template_closed_in_another_tab_is_refused_in_words(client, shaoxing_clerk):
    template = open_draft()
    client.get(f"/bureau/templates/{template.id}")
    template.status = TEMPLATE_CLOSED  # closed in another tab
    db.session.commit()

    response = client.post(f"/bureau/templates/{template.id}/activation")

    assert response.status_code == 409
    assert "该券模板已关闭，不能再启用" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(template), template.id).status == TEMPLATE_CLOSED and activations() == []


def test_a_lapsed_draft_offers_no_button_and_its_activation_is_refused_in_words(client, shaoxing_clerk):
    today = local_today()
    template = open_draft(claim_starts_on=today - timedelta(days=40), claim_ends_on=today - timedelta(days=1))
    page = client.get(f"/bureau/templates/{template.id}").get_data(as_text=True)
    assert "生效（开始发放）" not in page and "不能再生效" in page

    response = client.post(f"/bureau/templates/{template.id}/activation")

    text = response.get_data(as_text=True)
    assert response.status_code == 409 and "领取时间已于" in text and "不能再启用" in text
    assert 'value="2027年就业技能培训券"' in text  # the edit form shows the template, not the empty post
    db.session.expire_all()
    assert db.session.get(type(template), template.id).status == TEMPLATE_DRAFT and activations() == []


def test_putting_in_force_needs_the_pages_csrf_token(make_app, shaoxing_clerk):
    template_id = open_draft().id
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    sign_in(client, shaoxing_clerk)
    db.session.rollback()  # the other app's requests must not wait for this session's SQLite lock

    refused = client.post(f"/bureau/templates/{template_id}/activation")

    assert refused.status_code == 400 and "页面已过期" in refused.get_data(as_text=True)
    page = client.get(f"/bureau/templates/{template_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post(f"/bureau/templates/{template_id}/activation", data={"csrf_token": token}).status_code == 302
    assert [e.details["from"] for e in activations()] == [TEMPLATE_DRAFT]  # once: the refused post changed nothing


def test_another_regions_draft_cannot_be_put_in_force(client):
    regions()
    theirs = f.template(region_code="370100", status=TEMPLATE_DRAFT)
    clerk_of(client, "330600")
    assert client.post(f"/bureau/templates/{theirs.id}/activation").status_code == 404
    db.session.expire_all()
    assert db.session.get(type(theirs), theirs.id).status == TEMPLATE_DRAFT


# --- 3. every line rejected: 已驳回, not 已拨付 -------------------------------------------------------

def rejected_application():
    """A completed class's application of two lines, both rejected by a clerk of 绍兴市."""
    regions()
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


def test_an_application_whose_every_line_was_rejected_is_rejected_not_paid(session):
    made, vouchers, _cls = rejected_application()
    session.expire_all()
    row = session.get(Settlement, made.id)
    assert (row.status, row.status_label, row.paid_at, row.review_done) == (S_REJECTED, "已驳回", None, False)
    assert {session.get(Voucher, v.id).status for v in vouchers} == {USED}
    cashier = f.staff("bureau", region_code="330600")
    session.commit()
    with pytest.raises(SettlementError) as refused:
        settlement.pay(session, row, audit.Actor.for_staff(cashier), reference="HD001")
    assert "已全部驳回" in refused.value.message
    assert session.scalar(select(func.count(PaymentBatch.id))) == 0


def test_the_bureau_lists_it_under_its_own_tab_and_offers_no_payment_sheet(client):
    made, _vouchers, _cls = rejected_application()
    clerk_of(client, "330600")
    paid_tab = client.get("/bureau/settlements?status=paid").get_data(as_text=True)
    rejected_tab = client.get(f"/bureau/settlements?status={S_REJECTED}").get_data(as_text=True)
    assert f"申请 #{made.id}" not in paid_tab
    assert f"申请 #{made.id}" in rejected_tab and "已驳回" in rejected_tab
    detail = client.get(f"/bureau/settlements/{made.id}").get_data(as_text=True)
    assert "已驳回" in detail and "资金拨付表" not in detail and "已拨付</span>" not in detail
    assert client.get(f"/bureau/settlements/{made.id}/sheet.csv").status_code == 404


def test_the_institution_sees_it_rejected_and_why(client):
    made, _vouchers, cls = rejected_application()
    officer = f.staff("officer", institution_id=cls.institution_id)
    db.session.commit()
    sign_in(client, officer)
    listing = client.get("/institution/settlements").get_data(as_text=True)
    detail = client.get(f"/institution/settlements/{made.id}").get_data(as_text=True)
    assert '<span class="badge">已驳回</span>' in listing and '<span class="badge">已拨付</span>' not in listing
    assert "已驳回" in detail and "已全部驳回" in detail and "打卡率不足，未参加考核" in detail


def test_the_api_lists_it_as_rejected(client):
    from .api_support import auth, key_for

    made, _vouchers, _cls = rejected_application()
    key = key_for("bureau", "330600")
    found = client.get(f"/api/v1/settlements?status={S_REJECTED}", headers=auth(key)).get_json()
    assert [(s["id"], s["status"]) for s in found["settlements"]] == [(made.id, S_REJECTED)]
    paid = client.get("/api/v1/settlements?status=paid", headers=auth(key)).get_json()
    assert paid["settlements"] == []


# --- 4. no settlement before 结业 -------------------------------------------------------------------

@pytest.fixture
def running():
    """A running class (lessons tomorrow) with a voucher used there, and its officer."""
    regions()
    cls = f.training_class(sessions=2, starts_on=local_today() + timedelta(days=1))
    voucher = f.voucher(f.template(), f.person(), USED, used_at=utcnow(), class_id=cls.id,
                        institution_id=cls.institution_id)
    officer = f.staff("officer", institution_id=cls.institution_id)
    db.session.commit()
    return cls, voucher, officer


def test_the_service_refuses_an_application_before_the_class_is_completed(session, running):
    cls, _voucher, _officer = running
    with pytest.raises(ClassNotFinished) as refused:
        settlement.apply(session, cls, f.institution_actor(cls.institution))
    assert refused.value.message.startswith("班期结业后才能申请结算")
    assert session.scalar(select(func.count(Settlement.id))) == 0


def test_the_api_refuses_an_application_before_the_class_is_completed(client, running):
    from .api_support import auth, key_for

    cls, _voucher, _officer = running
    key = key_for("institution", cls.institution.code)
    response = client.post("/api/v1/settlements", json={"class_id": cls.id}, headers=auth(key))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "CLASS_NOT_FINISHED"
    assert "结业后才能申请结算" in response.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count(Settlement.id))) == 0


def test_the_page_offers_no_application_before_completion_and_refuses_one_posted(client, running):
    cls, _voucher, officer = running
    sign_in(client, officer)
    page = client.get(f"/institution/classes/{cls.id}/settlement").get_data(as_text=True)
    assert "提交结算申请" not in page and "班期结业后才能申请结算" in page
    assert f'href="/institution/classes/{cls.id}/complete"' in page

    response = client.post(f"/institution/classes/{cls.id}/settlement", data={"codes": ""})

    assert response.status_code == 400 and "班期结业后才能申请结算" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Settlement.id))) == 0


def test_after_applying_the_page_shows_the_application_instead_of_the_same_vouchers(client, running):
    cls, voucher, officer = running
    cls.status = CLASS_COMPLETED
    db.session.commit()
    sign_in(client, officer)
    before = client.get(f"/institution/classes/{cls.id}/settlement").get_data(as_text=True)
    assert "提交结算申请" in before and voucher.code[-4:] in before
    made = client.post(f"/institution/classes/{cls.id}/settlement", data={"codes": ""})
    settlement_id = db.session.scalar(select(Settlement.id))
    assert made.headers["Location"].endswith(f"/institution/settlements/{settlement_id}")

    after = client.get(f"/institution/classes/{cls.id}/settlement").get_data(as_text=True)

    assert f'href="/institution/settlements/{settlement_id}"' in after and f"申请 #{settlement_id}" in after
    assert "待审核" in after and "均已申请结算" in after
    assert "提交结算申请" not in after and f"…{voucher.code[-4:]}</td>" not in after


def test_a_rejected_line_is_offered_again_beside_its_application(client):
    made, vouchers, cls = rejected_application()
    officer = f.staff("officer", institution_id=cls.institution_id)
    db.session.commit()
    sign_in(client, officer)
    page = client.get(f"/institution/classes/{cls.id}/settlement").get_data(as_text=True)
    assert f"申请 #{made.id}" in page and "已驳回" in page
    assert "提交结算申请" in page and all(f"…{v.code[-4:]}</td>" in page for v in vouchers)


# --- 5. a Chinese page for 409 ----------------------------------------------------------------------

def assert_chinese_conflict_page(response):
    text = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "页面内容已变化" in text and "请返回刷新后重试" in text
    assert "Conflict" not in text and "conflict happened" not in text


def test_saving_a_template_closed_in_another_tab_shows_a_chinese_page(client, shaoxing_clerk):
    template = open_draft()
    template.status = TEMPLATE_CLOSED
    db.session.commit()
    assert_chinese_conflict_page(client.post(f"/bureau/templates/{template.id}", data={"name": "改名"}))


def test_editing_a_cancelled_class_shows_a_chinese_page(client):
    cls = f.training_class(status=CLASS_CANCELLED, cancelled_at=utcnow())
    officer = f.staff("officer", institution_id=cls.institution_id)
    db.session.commit()
    sign_in(client, officer)
    assert_chinese_conflict_page(client.get(f"/institution/classes/{cls.id}/edit"))


# --- the migrations: rows written before these fixes ------------------------------------------------

def test_the_migrations_place_old_audit_rows_and_close_old_all_rejected_settlements_as_rejected(make_app, tmp_path):
    """The rows are written as the old head's tables have them (reflected, not today's models): a
    later migration's new column must not break a test of an earlier one."""
    from flask_migrate import upgrade
    from sqlalchemy import MetaData

    from h5app.models.settlement import LINE_APPROVED, LINE_REJECTED, S_PAID

    with empty_database(tmp_path) as url:
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="e17d1d7e9c02")  # the head before these fixes
            old_tables = MetaData()
            old_tables.reflect(bind=db.engine)
            t = old_tables.tables
            now = utcnow()

            def add(table: str, **values) -> int:
                return db.session.execute(t[table].insert().values(**values)).inserted_primary_key[0]

            policy = add("policies", code="default", name="通用规则", attendance_threshold=0.6, exam_required=True,
                         auto_settle_directed_credential=False, pays_worker_for_general_certificate=False,
                         face_value_is_reference=False)
            add("regions", code="330600", name="绍兴市", policy_id=policy)
            add("regions", code="330603", name="柯桥区", parent_code="330600", policy_id=policy)
            school = add("institutions", code="3306031", name="柯桥职业培训学校", region_code="330603", type="school",
                         status="active", created_at=now)
            worker = add("people", id_number="330603199001011234", name="王建国", groups=[], insurance_months=0,
                         region_code="330603", qr_code="Q" * 16, job_consent=False, session_epoch=0, created_at=now)
            template = add("voucher_templates", name="柯桥培训券", voucher_type="就业技能培训券", region_code="330600",
                           policy_id=policy, status="active", function_mode="face_value", distribution_mode="general",
                           face_value_fen=100000, claim_starts_on=now.date(), claim_ends_on=now.date(), valid_days=90,
                           claimed_count=0, eligible_groups=[], project_types=[], audience="open", created_at=now)
            cls = add("classes", institution_id=school, course_name="电工培训", occupation="电工",
                      project_type="employment_skills", price_fen=100000, hours=20, starts_on=now.date(),
                      ends_on=now.date(), status="completed", created_at=now)
            voucher = add("vouchers", code="ABCDEFGHJKLMNPQR", template_id=template, person_id=worker, status="used",
                          class_id=cls, institution_id=school, created_at=now)
            old = dict(at=now, actor_type="staff", actor_label="旧记录", details={})
            for action, columns in (("staff.login", {"institution_id": school}),
                                    ("person.sso_login", {"person_id": worker}),
                                    ("targets.import", {})):
                add("audit_events", action=action, region_code=None, **old, **columns)
            for decision in (LINE_REJECTED, LINE_APPROVED):
                settlement = add("settlements", institution_id=school, class_id=cls, region_code="330600",
                                 status=S_PAID, created_at=now)
                add("settlement_lines", settlement_id=settlement, voucher_id=voucher, eligible=True, attendance_rate=1,
                    amount_fen=1000, decision=decision)
            db.session.commit()

            upgrade()

            placed = dict(db.session.execute(select(AuditEvent.action, AuditEvent.region_code)).all())
            statuses = db.session.scalars(select(Settlement.status).order_by(Settlement.id)).all()
            db.session.remove()
            db.engine.dispose()
    assert placed == {"staff.login": "330603", "person.sso_login": "330603", "targets.import": None}
    assert statuses == [S_REJECTED, S_PAID]
