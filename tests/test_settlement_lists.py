"""The bureau's overview of money out (issue 16): the settlement list with its tabs and totals (an
application whose every line was rejected under 已驳回, with no 资金拨付表), a missing payee account
flagged, the 资金拨付表 with 30 lines and a total per page, and overdue reviews and applications
flagged on both home pages."""
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from h5app.models import PayeeAccount, Voucher
from h5app.models.settlement import ACCOUNT_REPLACED, S_REJECTED
from h5app.models.vouchers import USED
from h5app.policies import ensure_policies
from h5app.vouchers import payees, settlement

from . import factories as f
from .auth_support import signed_in_staff, staff_sign_in
from .settlement_support import (
    NOW, bureau_pair, make_class, make_template, officer, rejected_application, reviewed_application, trainee,
)


def test_the_list_has_tabs_totals_and_flags_a_missing_account(client, session):
    app, _, _ = reviewed_application(session)
    for account in session.scalars(select(PayeeAccount)):
        account.status = ACCOUNT_REPLACED
    clerk = f.staff("bureau")
    session.commit()
    staff_sign_in(client, clerk)

    page = client.get("/bureau/settlements?status=reviewed").get_data(as_text=True)

    assert f"申请 #{app.id}" in page and "缺少收款账户" in page and "¥3,000.00" in page
    assert f"申请 #{app.id}" not in client.get("/bureau/settlements?status=paid").get_data(as_text=True)
    assert f"申请 #{app.id}" not in client.get("/bureau/settlements?status=reviewed&payee=worker").get_data(
        as_text=True)


def test_the_bureau_lists_it_under_its_own_tab_and_offers_no_payment_sheet(client):
    """An application whose every line was rejected is 已驳回, not 已拨付."""
    made, _vouchers, _cls = rejected_application()
    signed_in_staff(client, "bureau", region_code="330600")
    paid_tab = client.get("/bureau/settlements?status=paid").get_data(as_text=True)
    rejected_tab = client.get(f"/bureau/settlements?status={S_REJECTED}").get_data(as_text=True)
    assert f"申请 #{made.id}" not in paid_tab
    assert f"申请 #{made.id}" in rejected_tab and "已驳回" in rejected_tab
    detail = client.get(f"/bureau/settlements/{made.id}").get_data(as_text=True)
    assert "已驳回" in detail and "资金拨付表" not in detail and "已拨付</span>" not in detail
    assert client.get(f"/bureau/settlements/{made.id}/sheet.csv").status_code == 404


def test_the_disbursement_sheet_prints_30_lines_a_page_with_each_pages_total(client, session):
    payees_made = []
    for n in range(35):
        inst = f.institution()
        cls = make_class(inst)
        trainee(cls, make_template(face_value_fen=10000 + n))
        payees_made.append(inst)
    session.commit()
    reviewer, _ = bureau_pair()
    session.commit()
    for inst in payees_made:
        cls = session.scalar(select(Voucher).where(Voucher.institution_id == inst.id)).training_class
        application = settlement.apply(session, cls, officer(cls), now=NOW)
        settlement.review(session, application, reviewer, approve=[application.lines[0].voucher.code], now=NOW)
    clerk = f.staff("bureau")
    session.commit()
    staff_sign_in(client, clerk)

    response = client.get("/bureau/settlements/disbursement.xlsx")

    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=4)]
    subtotals = [r for r in rows if r[0] == "本页合计"]
    [total] = [r for r in rows if r[0] == "总计"]
    entries = [r for r in rows if isinstance(r[0], int)]
    assert len(entries) == 35 and rows.index(subtotals[0]) == 30
    assert [r[6] for r in subtotals] == [pytest.approx(sum(100 + n / 100 for n in range(30))),
                                         pytest.approx(sum(100 + n / 100 for n in range(30, 35)))]
    assert total[6] == pytest.approx(sum(100 + n / 100 for n in range(35)))
    account = payees.active_account(session, institution_id=payees_made[0].id)
    assert account.account_number in {r[5] for r in entries}  # the one export with full numbers
    assert len(sheet.row_breaks.brk) == 1
    assert sheet.print_title_rows == "$3:$3"


# --- deadlines -------------------------------------------------------------------------------------

def test_overdue_review_and_application_are_flagged_on_both_home_pages(client, app, session):
    ensure_policies(session)["default"].review_within_days = 10
    ensure_policies(session)["default"].apply_within_days = 15
    cls = make_class()
    template = make_template()
    applied = trainee(cls, template)
    session.commit()
    late = settlement.apply(session, cls, officer(cls), now=NOW)
    waiting_class = make_class(cls.institution, status="completed")
    waiting_class.completed_at = NOW
    trainee(waiting_class, template)
    clerk = f.staff("bureau")
    officer_user = f.staff("officer", institution_id=cls.institution_id, region_code=None)
    session.commit()
    assert applied.status == USED

    staff_sign_in(client, clerk)
    assert f"申请 #{late.id}" in client.get("/bureau/").get_data(as_text=True)
    other = app.test_client()
    staff_sign_in(other, officer_user)
    home = other.get("/institution/").get_data(as_text=True)
    assert "尚未申请结算，已超过结业后 15 天的申请期限" in home
    assert f"结算申请 #{late.id}" in home and "已超过 10 天审核期限" in home
