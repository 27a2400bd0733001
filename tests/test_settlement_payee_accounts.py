"""The payee account checked before paying (issue 16): no account, no payment; a change waiting for
confirmation is not paid to; the bureau sets an institution's account itself; without one the page
offers no payment and the 资金拨付表 leaves the line out."""
import pytest
from sqlalchemy import select

from h5app.models import PayeeAccount, Settlement, Voucher
from h5app.models.settlement import ACCOUNT_REPLACED
from h5app.models.vouchers import USED
from h5app.vouchers import payees, settlement
from h5app.vouchers.errors import PayeeMissing

from . import factories as f
from .auth_support import staff_sign_in
from .settlement_support import NOW, reviewed_application


def test_no_payment_without_a_payee_account(session):
    app, vouchers, cashier = reviewed_application(session)
    for account in session.scalars(select(PayeeAccount)):
        account.status = ACCOUNT_REPLACED
    session.commit()

    with pytest.raises(PayeeMissing) as caught:
        settlement.pay(session, app, cashier, reference="HD001", now=NOW)
    assert caught.value.code == "PAYEE_MISSING"
    assert {session.get(Voucher, v.id).status for v in vouchers} == {USED}


def test_an_institution_change_pending_confirmation_is_not_paid_to(session):
    app, _, cashier = reviewed_application(session)
    before = payees.settlement_account(session, app)
    payees.change_institution_account(session, app.institution, {
        "account_name": app.institution.name, "bank_name": "中国银行绍兴分行", "account_number": "12345678901234"},
        f.institution_actor(app.institution))

    batch = settlement.pay(session, app, cashier, reference="HD001", now=NOW)

    assert session.get(Settlement, app.id).lines[0].payee_account_id == before.id
    assert batch.paid_lines == 2


def test_the_bureau_sets_an_institutions_account_itself_and_it_is_in_force_at_once(client, session):
    institution = f.institution(payee=False)
    clerk = f.staff("bureau")
    session.commit()
    staff_sign_in(client, clerk)
    path = f"/bureau/institutions/{institution.id}"
    assert "设置收款账户" in client.get(path).get_data(as_text=True)

    bad = client.post(path, data={"payee-account_name": institution.name, "payee-bank_name": "中国银行",
                                  "payee-account_number": "6222021001115550004", "payee-submit": "保存收款账户"})
    assert bad.status_code == 400 and "校验位不正确" in bad.get_data(as_text=True)
    assert payees.active_account(session, institution_id=institution.id) is None

    good = client.post(path, data={"payee-account_name": institution.name, "payee-bank_name": "中国银行绍兴分行",
                                   "payee-account_number": "1211 0201 0920 0012 345", "payee-submit": "保存收款账户"})
    assert good.status_code == 302
    account = payees.active_account(session, institution_id=institution.id)
    assert account.account_number == "1211020109200012345" and account.confirmed_by
    assert "1211020109200012345" not in client.get(path).get_data(as_text=True)


def test_without_an_account_the_page_offers_no_payment_and_the_sheet_leaves_it_out(client, session):
    app, _, _ = reviewed_application(session)
    for account in session.scalars(select(PayeeAccount)):
        account.status = ACCOUNT_REPLACED
    cashier = f.staff("bureau")
    session.commit()
    staff_sign_in(client, cashier)

    page = client.get(f"/bureau/settlements/{app.id}").get_data(as_text=True)
    csv_text = client.get("/bureau/settlements/disbursement.csv").get_data().decode("utf-8-sig")

    assert "收款方还没有收款账户，补充后才能拨付" in page and "确认拨付" not in page
    assert "另有 1 笔共 3,000.00 元因收款方缺少收款账户未列入本表" in csv_text
    assert "总计" in csv_text and app.lines[0].voucher.code not in csv_text
