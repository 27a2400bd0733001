"""收款账户 of an institution: entered by the bureau (onboarding form, CSV, API) it is in force at once;
asked for by the institution's officer it waits for the bureau's 确认变更 / 不予确认; a number is
masked on every page and in every answer."""
import io

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import AuditEvent, Institution, PayeeAccount, StaffUser
from h5app.vouchers import payees

from . import factories as f
from .api_support import auth, error_code, institution_row, world
from .auth_support import staff_sign_in

CARD = f.CARD_NUMBER  # 6222021001115550003, Luhn-valid
MASKED = "6222" + "*" * 11 + "0003"
BAD_LUHN = CARD[:-1] + "4"  # a 19-digit UnionPay number with a wrong check digit
ACCOUNT = {"account_name": "越城职业培训学校", "bank_name": "中国工商银行绍兴越城支行", "account_number": CARD}


def actions(institution_id) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.institution_id == institution_id)
                                   .order_by(AuditEvent.id)))


def count(model) -> int:
    return db.session.scalar(select(func.count(model.id)))


# ---- onboarding in the bureau console ----------------------------------------------------------------

@pytest.fixture
def clerk(client):
    f.region("330602", "越城区", parent="330600")
    user = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, user)
    return user


def form_row(**values):
    return {"name": "越城职业培训学校", "code": "3306101", "region_code": "330602", "address": "越城区解放路1号",
            "phone": "0575-88001111", "type": "private_school", "officer_name": "周专员",
            "officer_id_number": f.valid_id_number(), "sites": "30.0023,120.5810", **values}


def onboarded() -> Institution:
    return db.session.scalar(select(Institution).where(Institution.code == "3306101"))


def test_onboarding_with_an_account_puts_it_in_force_at_once(client, clerk):
    spaced = {**ACCOUNT, "account_number": "6222 0210 0111 5550 003"}
    response = client.post("/bureau/institutions", data=form_row(**spaced))
    assert response.status_code == 200
    institution = onboarded()
    account = payees.active_account(db.session, institution_id=institution.id)
    assert (account.account_name, account.bank_name, account.account_number) == (
        "越城职业培训学校", "中国工商银行绍兴越城支行", CARD)
    assert account.confirmed_by and "payee.set" in actions(institution.id)
    page = response.get_data(as_text=True)
    assert MASKED in page and CARD not in page and "6222 0210 0111 5550 003" not in page


def test_onboarding_without_an_account_adds_the_institution_with_none(client, clerk):
    assert client.post("/bureau/institutions", data=form_row()).status_code == 200
    assert onboarded() is not None and count(PayeeAccount) == 0


@pytest.mark.parametrize("values, message", [
    ({"account_number": BAD_LUHN}, "银行卡号校验位不正确"),
    ({"account_number": "6222-abc"}, "银行账号只能包含数字"),
    ({"bank_name": "", "account_number": ""}, "请填写开户行"),
    ({"account_name": ""}, "请填写户名"),
])
def test_a_partial_or_bad_account_refuses_the_row_and_creates_nothing(client, clerk, values, message):
    response = client.post("/bureau/institutions", data=form_row(**{**ACCOUNT, **values}))
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page
    assert count(Institution) == 0 and count(PayeeAccount) == 0 and count(StaffUser) == 1


def csv_upload(client, header: str, *lines: str):
    body = (header + "\n" + "\n".join(lines) + "\n").encode()
    return client.post("/bureau/institutions", data={"file": (io.BytesIO(body), "i.csv")},
                       content_type="multipart/form-data")


def test_a_csv_batch_takes_the_account_columns_by_their_english_names_too(client, clerk):
    header = "机构名称,行政区划编码,机构地址,机构电话,机构编码,机构专员姓名,机构专员身份证号码,培训机构经纬度,account_name,bank_name,account_number"
    with_account = f"甲学校,330602,越城区1号,0575-88000001,3306101,周专员,{f.valid_id_number()},\"30.0,120.5\",甲学校,工行越城支行,{CARD}"
    without = f"乙学校,330602,越城区2号,0575-88000002,3306102,钱专员,{f.valid_id_number()},\"30.0,120.5\",,,"
    assert csv_upload(client, header, with_account, without).status_code == 200
    first, second = db.session.scalars(select(Institution).order_by(Institution.code)).all()
    assert payees.active_account(db.session, institution_id=first.id).account_number == CARD
    assert payees.active_account(db.session, institution_id=second.id) is None


def xlsx_upload(client, rows: list[list]):
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return client.post("/bureau/institutions", data={"file": (io.BytesIO(out.getvalue()), "i.xlsx")},
                       content_type="multipart/form-data")


XLSX_HEADER = ["机构名称", "行政区划编码", "机构地址", "机构电话", "机构编码", "机构专员姓名", "机构专员身份证号码",
               "培训机构经纬度", "户名", "开户行", "账号"]


def test_an_xlsx_batch_takes_the_account_as_text(client, clerk):
    line = ["甲学校", "330602", "越城区1号", "0575-88000001", "3306101", "周专员", f.valid_id_number(), "30.0,120.5",
            "甲学校", "工行越城支行", CARD]
    assert xlsx_upload(client, [XLSX_HEADER, line]).status_code == 200
    assert payees.active_account(db.session, institution_id=onboarded().id).account_number == CARD


def test_an_account_excel_turned_into_a_number_is_explained(client, clerk):
    line = ["甲学校", "330602", "越城区1号", "0575-88000001", "3306101", "周专员", f.valid_id_number(), "30.0,120.5",
            "甲学校", "工行越城支行", float(CARD)]
    response = xlsx_upload(client, [XLSX_HEADER, line])
    assert response.status_code == 400 and "科学计数法" in response.get_data(as_text=True)
    assert count(Institution) == 0


def test_a_csv_batch_with_one_bad_account_is_refused_whole(client, clerk):
    header = "机构名称,行政区划编码,机构地址,机构电话,机构编码,机构专员姓名,机构专员身份证号码,培训机构经纬度,户名,开户行,账号"
    good = f"甲学校,330602,越城区1号,0575-88000001,3306101,周专员,{f.valid_id_number()},\"30.0,120.5\",甲学校,工行越城支行,{CARD}"
    bad = f"乙学校,330602,越城区2号,0575-88000002,3306102,钱专员,{f.valid_id_number()},\"30.0,120.5\",乙学校,工行越城支行,{BAD_LUHN}"
    response = csv_upload(client, header, good, bad)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "第3行" in page and "账号" in page and "银行卡号校验位不正确" in page
    assert count(Institution) == 0 and count(PayeeAccount) == 0


# ---- the API ----------------------------------------------------------------------------------------

@pytest.fixture
def w(session):
    return world()


def test_api_onboarding_with_a_payee_puts_it_in_force(client, w):
    response = client.post("/api/v1/institutions", json={"institutions": [institution_row(payee=ACCOUNT),
                                                                          institution_row("3306002")]},
                           headers=auth(w.bureau_key))
    assert response.status_code == 201, response.get_json()
    assert CARD not in response.get_data(as_text=True)
    first = db.session.scalar(select(Institution).where(Institution.code == "3306001"))
    second = db.session.scalar(select(Institution).where(Institution.code == "3306002"))
    assert payees.active_account(db.session, institution_id=first.id).account_number == CARD
    assert payees.active_account(db.session, institution_id=second.id) is None


def test_api_onboarding_with_a_bad_payee_creates_nothing(client, w):
    before = count(Institution), count(PayeeAccount)
    rows = [institution_row(), institution_row("3306002", payee={**ACCOUNT, "account_number": BAD_LUHN})]
    response = client.post("/api/v1/institutions", json={"institutions": rows}, headers=auth(w.bureau_key))
    assert response.status_code == 422
    assert [(r["index"], r["field"]) for r in response.get_json()["error"]["rows"]] == [(2, "account_number")]
    assert (count(Institution), count(PayeeAccount)) == before


def test_put_payee_changing_the_account_in_force_waits_for_a_staff_members_confirmation(client, w):
    """Four eyes through the API too: one key holder alone cannot send the subsidy elsewhere."""
    old = payees.active_account(db.session, institution_id=w.institution.id)
    response = client.put(f"/api/v1/institutions/{w.institution.code}/payee", json=ACCOUNT, headers=auth(w.bureau_key))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"code": w.institution.code, "status": "pending", "payee": {
        "account_name": "越城职业培训学校", "bank_name": "中国工商银行绍兴越城支行", "account_number": MASKED}}
    assert CARD not in response.get_data(as_text=True)
    assert payees.active_account(db.session, institution_id=w.institution.id).id == old.id  # payments go there still
    assert actions(w.institution.id)[-1] == "payee.request"

    pending = payees.pending_account(db.session, w.institution.id)
    payees.decide_institution_account(db.session, pending, f.bureau_actor(), approve=True)

    assert payees.active_account(db.session, institution_id=w.institution.id).account_number == CARD
    assert db.session.get(PayeeAccount, old.id).status == "replaced"


def test_put_payee_takes_the_account_as_api_md_writes_it(client, w):
    """API.md: PUT /institutions/{code}/payee carries "payee": {…}."""
    response = client.put(f"/api/v1/institutions/{w.institution.code}/payee", json={"payee": ACCOUNT},
                          headers=auth(w.bureau_key))
    assert response.status_code == 200, response.get_json()
    assert payees.pending_account(db.session, w.institution.id).account_number == CARD


def test_the_account_in_force_entered_again_withdraws_a_change_still_waiting(client, w):
    current = payees.active_account(db.session, institution_id=w.institution.id)
    same = {"account_name": current.account_name, "bank_name": current.bank_name,
            "account_number": current.account_number}
    path = f"/api/v1/institutions/{w.institution.code}/payee"
    client.put(path, json=ACCOUNT, headers=auth(w.bureau_key))
    waiting = payees.pending_account(db.session, w.institution.id)

    kept = client.put(path, json=same, headers=auth(w.bureau_key))

    assert kept.get_json()["status"] == "active"
    assert payees.pending_account(db.session, w.institution.id) is None  # nothing left to confirm by mistake
    assert db.session.get(PayeeAccount, waiting.id).status == "replaced"
    assert payees.active_account(db.session, institution_id=w.institution.id).id == current.id


def test_put_payee_with_a_field_beside_payee_takes_the_account(client, w):
    """Fields the API does not know are ignored, as in every request (the account was refused as missing)."""
    response = client.put(f"/api/v1/institutions/{w.institution.code}/payee",
                          json={"payee": ACCOUNT, "note": "x", "account_number": "6222000000000000"},
                          headers=auth(w.bureau_key))
    assert response.status_code == 200 and payees.pending_account(db.session, w.institution.id).account_number == CARD


def test_put_payee_of_the_account_in_force_again_changes_nothing(client, w):
    current = payees.active_account(db.session, institution_id=w.institution.id)
    same = {"account_name": current.account_name, "bank_name": current.bank_name,
            "account_number": current.account_number}
    rows = db.session.scalar(select(func.count(PayeeAccount.id)))
    for _ in range(3):
        response = client.put(f"/api/v1/institutions/{w.institution.code}/payee", json=same,
                              headers=auth(w.bureau_key))
        assert response.status_code == 200 and response.get_json()["status"] == "active"
    assert db.session.scalar(select(func.count(PayeeAccount.id))) == rows


@pytest.mark.parametrize("who, code", [("foreign_bureau_key", None), ("bureau_key", "NOSUCH1")])
def test_put_payee_outside_the_region_or_unknown_is_404(client, w, who, code):
    before = payees.active_account(db.session, institution_id=w.institution.id).id
    response = client.put(f"/api/v1/institutions/{code or w.institution.code}/payee", json=ACCOUNT,
                          headers=auth(getattr(w, who)))
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"
    assert payees.active_account(db.session, institution_id=w.institution.id).id == before


def test_put_payee_with_a_bad_number_is_422_with_the_field(client, w):
    response = client.put(f"/api/v1/institutions/{w.institution.code}/payee",
                          json={**ACCOUNT, "account_number": BAD_LUHN, "bank_name": ""}, headers=auth(w.bureau_key))
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"account_number", "bank_name"}


def test_an_institution_key_may_not_set_a_payee(client, w):
    response = client.put(f"/api/v1/institutions/{w.institution.code}/payee", json=ACCOUNT,
                          headers=auth(w.institution_key))
    assert response.status_code == 403


def test_the_openapi_document_has_the_payee_endpoint(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "put" in paths["/api/v1/institutions/{code}/payee"]


# ---- 机构信息 and the bureau's confirmation -------------------------------------------------------------

@pytest.fixture
def officer(client):
    f.region("330602", "越城区", parent="330600")
    user = f.staff("officer")
    db.session.commit()
    staff_sign_in(client, user)
    return user


@pytest.fixture
def bureau(new_client):
    user = f.staff("bureau")
    db.session.commit()
    browser = new_client()
    staff_sign_in(browser, user)
    return browser


def ask_for_change(client, **values):
    data = {f"payee-{k}": v for k, v in {**ACCOUNT, **values}.items()}
    return client.post("/institution/profile", data={**data, "payee-submit": "提交变更"})


def test_the_officers_change_waits_for_the_bureau(client, officer):
    institution_id = officer.institution_id
    old = payees.active_account(db.session, institution_id=institution_id)
    assert ask_for_change(client).status_code == 302
    assert payees.active_account(db.session, institution_id=institution_id).id == old.id
    assert payees.pending_account(db.session, institution_id).account_number == CARD
    assert actions(institution_id)[-1] == "payee.request"
    page = client.get("/institution/profile").get_data(as_text=True)
    assert "变更待人社部门确认" in page and MASKED in page and old.masked_number in page
    assert CARD not in page and old.account_number not in page


def test_a_second_change_replaces_the_first_still_pending(client, officer):
    ask_for_change(client, account_number="33050161733500000001")
    first = payees.pending_account(db.session, officer.institution_id)
    ask_for_change(client)
    assert db.session.get(PayeeAccount, first.id).status == "replaced"
    assert payees.pending_account(db.session, officer.institution_id).account_number == CARD


def test_a_bad_change_is_refused_on_the_form(client, officer):
    response = ask_for_change(client, account_number=BAD_LUHN)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "银行卡号校验位不正确" in page and BAD_LUHN not in page
    assert payees.pending_account(db.session, officer.institution_id) is None


def test_the_bureau_confirms_the_change(client, officer, bureau):
    ask_for_change(client)
    institution_id = officer.institution_id
    pending = payees.pending_account(db.session, institution_id)
    page = bureau.get(f"/bureau/institutions/{institution_id}").get_data(as_text=True)
    assert "确认变更" in page and "不予确认" in page and MASKED in page and CARD not in page
    response = bureau.post(f"/bureau/institutions/{institution_id}",
                           data={"account_id": pending.id, "confirm": "确认变更"}, follow_redirects=True)
    assert "已确认收款账户变更" in response.get_data(as_text=True)
    assert payees.active_account(db.session, institution_id=institution_id).id == pending.id
    assert payees.pending_account(db.session, institution_id) is None
    assert actions(institution_id)[-1] == "payee.confirm"


def test_declining_needs_a_reason_and_the_officer_sees_it(client, officer, bureau):
    ask_for_change(client)
    institution_id = officer.institution_id
    old = payees.active_account(db.session, institution_id=institution_id)
    pending = payees.pending_account(db.session, institution_id)
    url = f"/bureau/institutions/{institution_id}"
    page = bureau.post(url, data={"account_id": pending.id, "decline": "不予确认", "reason": " "},
                       follow_redirects=True).get_data(as_text=True)
    assert "请填写不予确认的原因" in page
    assert payees.pending_account(db.session, institution_id).id == pending.id
    page = bureau.post(url, data={"account_id": pending.id, "decline": "不予确认", "reason": "户名与机构名称不一致"},
                       follow_redirects=True).get_data(as_text=True)
    assert "已不予确认" in page
    assert db.session.get(PayeeAccount, pending.id).status == "declined"
    assert payees.active_account(db.session, institution_id=institution_id).id == old.id
    page = client.get("/institution/profile").get_data(as_text=True)
    assert "户名与机构名称不一致" in page and "变更待人社部门确认" not in page


def test_a_change_of_another_institution_cannot_be_decided_here(client, officer, bureau):
    ask_for_change(client)
    pending = payees.pending_account(db.session, officer.institution_id)
    other = f.institution()
    db.session.commit()
    response = bureau.post(f"/bureau/institutions/{other.id}", data={"account_id": pending.id, "confirm": "确认变更"})
    assert response.status_code == 404
    assert db.session.get(PayeeAccount, pending.id).status == "pending"


def test_bureau_staff_of_another_region_cannot_see_or_confirm(client, officer, new_client):
    ask_for_change(client)
    pending = payees.pending_account(db.session, officer.institution_id)
    f.region("500000", "重庆市")
    stranger = f.staff("bureau", region_code="500000")
    db.session.commit()
    browser = new_client()
    staff_sign_in(browser, stranger)
    url = f"/bureau/institutions/{officer.institution_id}"
    assert browser.get(url).status_code == 404
    assert browser.post(url, data={"account_id": pending.id, "confirm": "确认变更"}).status_code == 404
    assert db.session.get(PayeeAccount, pending.id).status == "pending"


def test_a_verifier_sees_the_account_but_cannot_change_it(client, officer):
    verifier = f.staff("verifier", institution_id=officer.institution_id)
    db.session.commit()
    staff_sign_in(client, verifier)
    account = payees.active_account(db.session, institution_id=officer.institution_id)
    page = client.get("/institution/profile").get_data(as_text=True)
    assert account.masked_number in page and account.account_number not in page and "变更收款账户" not in page
    assert ask_for_change(client).status_code == 303
    assert payees.pending_account(db.session, officer.institution_id) is None
