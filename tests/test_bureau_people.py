"""人员信息 for the bureau (issue 18): search by the full ID number, the record with each region by
its name, its history and the vouchers, only for people the bureau's region covers, every view
audited, and never a full ID number or phone on the page."""
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import AuditEvent, PersonRecordChange
from h5app.timeutil import utcnow

from . import factories as f
from .auth_support import staff_sign_in

ID_NUMBER = f.valid_id_number("330602", "19800315", 123)


@pytest.fixture
def clerk(client):
    f.region("330602", "越城区", parent="330600")
    f.region("330603", "柯桥区", parent="330600")
    user = f.staff("bureau", username="clerk_he", name="何经办")
    db.session.commit()
    staff_sign_in(client, user)
    return user


def worker(**values):
    values = {"name": "王建国", "id_number": ID_NUMBER, "phone": "13912345678", "groups": ["unemployed"],
              "insurance_months": 40, "region_code": "330602", "hukou_region_code": "330603",
              "insurance_region_code": "330602", "unemployment_registered_region_code": "330602",
              "record_as_of": date(2026, 11, 30), "record_source": "import", **values}
    return f.person(**values)


def test_the_bureau_home_leads_to_people(client, clerk):
    assert 'href="/bureau/people"' in client.get("/bureau/").get_data(as_text=True)


def test_search_by_the_full_id_number_opens_the_record(client, clerk):
    person = worker()
    db.session.commit()
    typed = f"  {ID_NUMBER[:6]} {ID_NUMBER[6:].lower()} "  # spaces and a lower-case x are what people type
    response = client.post("/bureau/people", data={"id_number": typed})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/bureau/people/{person.id}")
    assert ID_NUMBER not in response.headers["Location"]


def test_the_record_shows_each_region_by_name_months_groups_date_and_source(client, clerk):
    person = worker()
    db.session.commit()
    page = client.get(f"/bureau/people/{person.id}").get_data(as_text=True)
    for words in ("户籍地</dt><dd>柯桥区（330603）", "常住地</dt><dd>未登记", "参保地</dt><dd>越城区（330602）",
                  "失业登记地</dt><dd>越城区（330602）", "失业保险缴费月数</dt><dd>40个月", "重点群体</dt><dd>失业人员",
                  "信息日期 2026-11-30 · 来源 人员信息导入", "王*国", ID_NUMBER[:4] + "*" * 10 + ID_NUMBER[-4:],
                  "139****5678"):
        assert words in page, words
    assert ID_NUMBER not in page and "13912345678" not in page and "王建国" not in page


def test_a_person_without_a_record_is_said_so(client, clerk):
    person = f.person(record_as_of=None)
    db.session.commit()
    page = client.get(f"/bureau/people/{person.id}").get_data(as_text=True)
    assert "人社部门尚未登记该人员的参保、就业信息" in page


def test_the_history_of_changes_is_shown_newest_first_masked(client, clerk):
    person = worker()
    db.session.add_all([
        PersonRecordChange(person_id=person.id, source="sso", as_of=date(2026, 10, 1), origin="zhrs",
                           changes={"region_code": [None, "330603"], "phone": [None, "13912345678"]}),
        PersonRecordChange(person_id=person.id, source="import", as_of=date(2026, 11, 30), origin="导入任务#7",
                           changes={"insurance_region_code": ["330603", "330602"], "insurance_months": [30, 40],
                                    "groups": [[], ["unemployed"]]}),
    ])
    db.session.commit()
    page = client.get(f"/bureau/people/{person.id}").get_data(as_text=True)
    newest = page.index("2026-11-30</strong> · 人员信息导入（导入任务#7）")
    oldest = page.index("2026-10-01</strong> · 渠道实名信息")
    assert newest < oldest
    for words in ("参保地：柯桥区（330603） → 越城区（330602）", "失业保险缴费月数：30个月 → 40个月",
                  "重点群体：未登记 → 失业人员", "所在地区：未登记 → 柯桥区（330603）", "手机号：未登记 → 139****5678"):
        assert words in page, words
    assert "13912345678" not in page


def test_the_vouchers_of_the_bureaus_region_are_listed_with_status_and_dates(client, clerk):
    person = worker()
    ours = f.template(name="2026年失业人员技能培训券")
    f.voucher(ours, person, "claimed", offered_at=f.utcnow_plus(days=-3), claimed_at=f.utcnow_plus(days=-2))
    f.region("500000", "重庆市")
    theirs = f.template(name="重庆家政券", region_code="500000")
    f.voucher(theirs, person, "claimed")
    db.session.commit()
    page = client.get(f"/bureau/people/{person.id}").get_data(as_text=True)
    assert "2026年失业人员技能培训券" in page and "可使用" in page
    assert "重庆家政券" not in page and "另有1张其他地区发放的培训券" in page


def test_a_vouchers_code_is_shown_with_a_way_to_revoke_it(client, clerk):
    """批量作废 takes codes; the clerk finds a person's code on their page, and 作废 fills it in."""
    person = worker()
    claimed = f.voucher(f.template(name="可作废的券"), person, "claimed")
    used = f.voucher(f.template(name="已使用的券"), person, "used")
    db.session.commit()
    page = client.get(f"/bureau/people/{person.id}").get_data(as_text=True)
    assert claimed.code in page and used.code in page
    assert f"/bureau/revoke?codes={claimed.code}" in page and f"codes={used.code}" not in page
    form = client.get(f"/bureau/revoke?codes={claimed.code}").get_data(as_text=True)
    assert re.search(rf"<textarea[^>]*>\s*{claimed.code}\s*</textarea>", form)


def test_every_view_is_audited_with_who_looked(client, clerk):
    person = worker()
    db.session.commit()
    client.get(f"/bureau/people/{person.id}")
    page = client.get(f"/bureau/people/{person.id}").get_data(as_text=True)
    views = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.view")).all()
    assert [(v.person_id, v.actor_id, v.actor_type, v.region_code) for v in views] == [
        (person.id, clerk.id, "staff", "330600")] * 2
    assert "clerk_he" in views[0].actor_label and "最近查看记录" in page and page.count("clerk_he") >= 2
    log = client.get(f"/bureau/audit?person={person.id}").get_data(as_text=True)
    assert "查看人员信息" in log


def test_the_person_page_lists_only_this_regions_views(client, clerk):
    person = worker()
    db.session.add(AuditEvent(actor_type="api_key", actor_label="API vk_jinan001", action="person.view",
                              person_id=person.id, region_code="370100", at=utcnow()))
    db.session.commit()
    page = client.get(f"/bureau/people/{person.id}").get_data(as_text=True)
    assert "clerk_he" in page and "vk_jinan001" not in page


@pytest.mark.parametrize("typed, words", [
    ("", "请填写身份证号码"),
    ("12345", "身份证号码应为18位"),
    (ID_NUMBER[:17] + ("0" if ID_NUMBER[17] != "0" else "1"), "身份证号码校验位不正确"),
])
def test_a_bad_id_number_is_explained(client, clerk, typed, words):
    response = client.post("/bureau/people", data={"id_number": typed})
    assert response.status_code == 400 and words in response.get_data(as_text=True)


def test_an_unknown_id_number_is_not_found_and_not_echoed(client, clerk):
    response = client.post("/bureau/people", data={"id_number": ID_NUMBER})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "未找到该人员信息" in page and ID_NUMBER not in page


def test_a_person_of_another_region_is_not_found_by_search_or_by_address(client, clerk):
    f.region("500000", "重庆市")
    person = worker(region_code="500103", hukou_region_code="500103", insurance_region_code="500103",
                    unemployment_registered_region_code=None)
    db.session.commit()
    search = client.post("/bureau/people", data={"id_number": ID_NUMBER})
    assert search.status_code == 400 and "未找到该人员信息" in search.get_data(as_text=True)
    page = client.get(f"/bureau/people/{person.id}")
    assert page.status_code == 404 and "未找到该人员信息" in page.get_data(as_text=True)
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "person.view")) is None


def test_a_person_whose_record_places_them_here_is_found_whatever_the_region_code(client, clerk):
    """Insured in 越城区, living elsewhere: the bureau of 绍兴市 serves them."""
    person = worker(region_code="500103", hukou_region_code="500103", insurance_region_code="330602",
                    unemployment_registered_region_code=None)
    db.session.commit()
    assert client.get(f"/bureau/people/{person.id}").status_code == 200


def test_people_pages_are_for_the_bureau_only(client):
    officer = f.staff("officer")
    person = worker()
    db.session.commit()
    staff_sign_in(client, officer)
    assert client.get("/bureau/people").status_code == 403
    assert client.get(f"/bureau/people/{person.id}").status_code == 403


def test_a_used_vouchers_row_shows_no_deadline_to_use_it(client, clerk):
    person = worker()
    f.voucher(f.template(name="已使用的券"), person, "used", expires_at=utcnow() + timedelta(days=80))
    db.session.commit()
    page = client.get(f"/bureau/people/{person.id}").get_data(as_text=True)
    assert "—（已使用）" in page
