"""The subsidy paid to the worker directly (Shaoxing, issue 16): the worker is told when it is
approved, fails and is paid; the bureau of the worker's own district reviews it; through the API
such settlements appear by themselves."""
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from h5app.models import Notification
from h5app.vouchers import payees, settlement
from h5app.vouchers.errors import PayeeMissing

from . import factories as f
from .api_support import auth, key_for
from .settlement_support import NOW, bureau_pair, shaoxing_certificate_case


def test_the_worker_is_told_when_the_subsidy_is_approved_failed_and_paid(session):
    voucher, _cls = shaoxing_certificate_case(session)
    f.certificate(voucher.person, occupation="电工", issued_on=date(2022, 6, 1))
    session.commit()
    [app] = settlement.match_worker_subsidies(session, "330600", f.bureau_actor(), now=NOW + timedelta(days=30))
    reviewer, cashier = bureau_pair()
    session.commit()
    settlement.review(session, app, reviewer, approve=[voucher.code], now=NOW + timedelta(days=31))

    with pytest.raises(PayeeMissing):
        settlement.pay(session, app, cashier, reference="HD001", now=NOW + timedelta(days=32))
    payees.set_worker_account(session, voucher.person, {
        "account_name": voucher.person.name, "bank_name": "中国农业银行", "account_number": f.CARD_NUMBER},
        f.bureau_actor())
    settlement.pay(session, app, cashier, reference="HD001", failed=[(voucher.code, "户名与账号不符")],
                   now=NOW + timedelta(days=32))
    settlement.pay(session, app, cashier, reference="HD002", now=NOW + timedelta(days=33))

    kinds = [n.kind for n in session.scalars(select(Notification).where(Notification.person_id == voucher.person_id)
                                             .order_by(Notification.id))]
    assert kinds[:1] == ["subsidy_matched"]
    assert {"subsidy_approved", "subsidy_failed", "settled"} <= set(kinds)
    settled = session.scalar(select(Notification).where(Notification.kind == "settled"))
    assert "6222****" in settled.body and f.CARD_NUMBER not in settled.body
    from h5app.worker.voucher_history import history

    assert any(line["text"].endswith("元已拨付给您本人，唯一码核销") for line in history(voucher))  # 券的记录


def test_the_worker_subsidy_is_reviewed_by_the_bureau_of_the_workers_own_district(session):
    voucher, _cls = shaoxing_certificate_case(session)
    voucher.person.region_code = "330603"
    f.certificate(voucher.person, occupation="电工", issued_on=date(2022, 6, 1))
    session.commit()

    [app] = settlement.match_worker_subsidies(session, None, f.bureau_actor(), now=NOW + timedelta(days=30))

    assert app.region_code == "330603"


def test_api_worker_settlements_appear_by_themselves(client, session):
    voucher, _cls = shaoxing_certificate_case(session)
    session.commit()
    bureau = key_for("bureau", "330600")
    response = client.post("/api/v1/certificates", json={
        "id_number": voucher.person.id_number, "name": voucher.person.name, "number": "ZS-2022-0001",
        "occupation": "电工", "level": "四级", "issued_on": "2022-06-01", "issuer": "绍兴市职业技能鉴定中心"},
        headers=auth(bureau))
    assert response.status_code == 201

    listed = client.get("/api/v1/settlements?payee_kind=worker", headers=auth(bureau)).get_json()

    [row] = listed["settlements"]
    assert (row["payee_kind"], row["institution_code"], row["status"]) == ("worker", None, "submitted")
    detail = client.get(f"/api/v1/settlements/{row['id']}", headers=auth(bureau)).get_json()
    assert detail["payee"] is None and detail["person"]["id_number"].count("*") == 10
