"""What a settlement line is worth (issue 16): the fee the class charged caps the subsidy; in
Chongqing the reviewer approves an amount no higher than the line's maximum, each approval audited,
on the page as through the service; a refused review names each row by error code and keeps what
the clerk chose and typed."""
import pytest
from sqlalchemy import select

from h5app.models import AuditEvent, Settlement
from h5app.vouchers import settlement, subsidy
from h5app.vouchers.errors import AmountAboveMaximum, DomainError

from . import factories as f
from .auth_support import staff_sign_in
from .settlement_support import NOW, bureau_pair, chongqing_application, make_class, make_template, officer, trainee


def test_a_subsidy_never_exceeds_the_fee_the_class_charged(session):
    cls = make_class(price_fen=100000)
    voucher = trainee(cls, make_template(face_value_fen=120000))
    session.commit()

    assert subsidy.assess(session, voucher, cls).amount_fen == 100000


def test_a_class_with_no_fee_on_record_is_not_capped_by_it(session):
    cls = make_class(price_fen=0)
    voucher = trainee(cls, make_template(face_value_fen=120000))
    session.commit()

    assert subsidy.assess(session, voucher, cls).amount_fen == 120000


def test_chongqing_amount_above_the_maximum_is_refused_and_changes_nothing(session):
    voucher, app = chongqing_application(session)
    reviewer, _ = bureau_pair("500000")
    session.commit()

    with pytest.raises(AmountAboveMaximum) as caught:
        settlement.review(session, app, reviewer, approve=[voucher.code], amounts={voucher.code: 100001}, now=NOW)

    assert caught.value.code == "AMOUNT_ABOVE_MAXIMUM"
    assert caught.value.details["rows"][0]["voucher_code"] == voucher.code
    session.expire_all()
    line = session.get(Settlement, app.id).lines[0]
    assert (line.decision, line.approved_amount_fen) == ("pending", None)
    assert session.scalar(select(AuditEvent.id).where(AuditEvent.action == "settlement.approve")) is None


def test_each_approval_is_audited_with_its_amount(session):
    voucher, app = chongqing_application(session)
    reviewer, _ = bureau_pair("500000")
    session.commit()

    settlement.review(session, app, reviewer, approve=[voucher.code], amounts={voucher.code: 30000}, now=NOW)

    [event] = f.audit_events(action="settlement.approve", voucher_id=voucher.id)
    assert event.details["approved_amount_fen"] == 30000 and event.details["amount_fen"] == 100000


def test_chongqing_reviewer_enters_a_lower_amount_on_the_page(client, session):
    voucher, app = chongqing_application(session)
    clerk = f.staff("bureau", region_code="500000")
    session.commit()
    staff_sign_in(client, clerk)
    line = app.lines[0]
    page = client.get(f"/bureau/settlements/{app.id}").get_data(as_text=True)
    assert "参考金额" in page and f'name="amount-{line.id}"' in page

    too_much = client.post(f"/bureau/settlements/{app.id}", data={f"decision-{line.id}": "approve",
                                                                 f"amount-{line.id}": "1000.01"})
    assert too_much.status_code == 400 and "高于该行的补贴上限" in too_much.get_data(as_text=True)
    negative = client.post(f"/bureau/settlements/{app.id}", data={f"decision-{line.id}": "approve",
                                                                 f"amount-{line.id}": "-5"})
    assert negative.status_code == 400
    session.expire_all()
    assert session.get(Settlement, app.id).lines[0].decision == "pending"

    done = client.post(f"/bureau/settlements/{app.id}", data={f"decision-{line.id}": "approve",
                                                             f"amount-{line.id}": "300"})
    assert done.status_code == 302
    session.expire_all()
    assert session.get(Settlement, app.id).lines[0].approved_amount_fen == 30000


def test_review_rows_carry_error_codes_not_voucher_codes(session):
    cls = make_class()
    trainee(cls, make_template())
    session.commit()
    app = settlement.apply(session, cls, officer(cls), now=NOW)
    reviewer, _ = bureau_pair()
    session.commit()

    with pytest.raises(DomainError) as caught:
        settlement.review(session, app, reviewer, approve=["NOSUCHCODE"], now=NOW)

    [row] = caught.value.details["rows"]
    assert (row["code"], row["voucher_code"]) == ("VOUCHER_NOT_FOUND", "NOSUCHCODE")


def test_a_refused_review_keeps_what_the_clerk_chose_and_typed(client, session):
    voucher, app = chongqing_application(session)
    clerk = f.staff("bureau", region_code="500000")
    session.commit()
    staff_sign_in(client, clerk)
    line = app.lines[0]

    page = client.post(f"/bureau/settlements/{app.id}", data={f"decision-{line.id}": "approve",
                                                             f"amount-{line.id}": "1200"}).get_data(as_text=True)

    assert f'name="decision-{line.id}" value="approve" checked' in page
    assert f'name="amount-{line.id}" inputmode="decimal" placeholder="1000.00" value="1200"' in page
