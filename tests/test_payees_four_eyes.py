"""收款账户 and four eyes: a bureau clerk's change of an institution's account in force waits for
another staff member of the bureau, so no one clerk can send an institution's subsidy elsewhere;
the clerk who entered it may withdraw it, not confirm it. A first account is in force at once."""
import pytest
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import AuditEvent
from h5app.vouchers import payees

from . import factories as f
from .auth_support import staff_sign_in

CARD = f.CARD_NUMBER
MASKED = "6222" + "*" * 11 + "0003"
CHANGE = {"payee-account_name": "越城职业培训学校", "payee-bank_name": "中国工商银行绍兴越城支行",
          "payee-account_number": CARD, "payee-submit": "保存收款账户"}


def last_action(institution_id) -> str:
    return db.session.scalars(select(AuditEvent.action).where(AuditEvent.institution_id == institution_id)
                              .order_by(AuditEvent.id.desc())).first()


@pytest.fixture
def page(client, session):
    """An institution with an account in force, its page open to a signed-in clerk: (institution,
    the account in force, the page's URL)."""
    institution = f.institution()
    clerk = f.staff("bureau")
    session.commit()
    staff_sign_in(client, clerk)
    return institution, payees.active_account(session, institution_id=institution.id), \
        f"/bureau/institutions/{institution.id}"


def test_a_clerks_change_of_the_account_in_force_waits_and_is_not_theirs_to_confirm(client, session, page):
    institution, old, url = page

    saved = client.post(url, data=CHANGE, follow_redirects=True).get_data(as_text=True)

    assert "须由另一名工作人员核对确认后生效" in saved
    assert payees.active_account(session, institution_id=institution.id).id == old.id
    pending = payees.pending_account(session, institution.id)
    assert pending.account_number == CARD and last_action(institution.id) == "payee.request"
    assert "这是您录入的变更" in saved and "确认变更" not in saved and MASKED in saved
    refused = client.post(url, data={"account_id": pending.id, "confirm": "确认变更"},
                          follow_redirects=True).get_data(as_text=True)
    assert "须由录入人以外的另一名工作人员核对确认" in refused
    session.expire_all()
    assert payees.active_account(session, institution_id=institution.id).id == old.id


def test_another_clerk_confirms_the_change_and_it_is_in_force(client, new_client, session, page):
    institution, _old, url = page
    second = f.staff("bureau")
    session.commit()
    client.post(url, data=CHANGE)
    pending = payees.pending_account(session, institution.id)
    other = new_client()
    staff_sign_in(other, second)

    page = other.get(url).get_data(as_text=True)
    assert "本局于" in page and "确认变更" in page
    confirmed = other.post(url, data={"account_id": pending.id, "confirm": "确认变更"}, follow_redirects=True)

    assert "已确认收款账户变更" in confirmed.get_data(as_text=True)
    session.expire_all()
    assert payees.active_account(session, institution_id=institution.id).id == pending.id
    assert last_action(institution.id) == "payee.confirm"


def test_the_clerk_may_withdraw_their_own_change(client, session, page):
    institution, old, url = page
    client.post(url, data=CHANGE)
    pending = payees.pending_account(session, institution.id)

    client.post(url, data={"account_id": pending.id, "decline": "不予确认", "reason": "账号录错"})

    session.expire_all()
    assert payees.pending_account(session, institution.id) is None
    assert payees.active_account(session, institution_id=institution.id).id == old.id


def test_a_first_account_entered_by_a_clerk_is_in_force_at_once(client, session):
    institution = f.institution(payee=False)
    clerk = f.staff("bureau")
    session.commit()
    staff_sign_in(client, clerk)

    client.post(f"/bureau/institutions/{institution.id}", data=CHANGE)

    assert payees.active_account(session, institution_id=institution.id).account_number == CARD
    assert last_action(institution.id) == "payee.set"


def test_a_change_a_bureaus_key_sent_is_shown_as_the_bureaus_to_check_against_the_papers(client, session, page):
    institution, _old, url = page
    from h5app.vouchers import audit

    payees.change_institution_account(session, institution, {"account_name": "越城职业培训学校",
                                                             "bank_name": "中国工商银行绍兴越城支行",
                                                             "account_number": CARD},
                                      audit.Actor("api_key", 7, "API abc123", region_code="330600"))

    shown = client.get(url).get_data(as_text=True)

    assert "本局于" in shown and "并与机构的书面材料核对账号" in shown and "确认变更" in shown
