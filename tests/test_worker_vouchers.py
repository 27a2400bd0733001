"""卡券中心 and 我的卡券: what a worker may claim and why not, the one-step claim with the identity
shown, the vouchers by status, and a voucher's live QR."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import Voucher
from h5app.timeutil import utcnow
from h5app.vouchers import app_qr_secret, qrtoken

from . import factories as f
from .auth_support import signed_in_worker, text_of


@pytest.fixture
def worker(client):
    return signed_in_worker(client, name="王建国", insurance_months=20, groups=["unemployed"])


def test_card_center_lists_an_open_voucher_with_its_facts_and_a_claim_button(client, worker):
    template = f.template(name="就业技能培训券", face_value_fen=150000, stock=10)
    db.session.commit()
    page = text_of(client.get("/worker/cards"))
    assert "就业技能培训券" in page and "¥1,500.00" in page and "剩余数量" in page and "10 张" in page
    assert f"/worker/cards/{template.id}" in page


def test_card_center_explains_why_a_voucher_cannot_be_claimed(client, worker):
    f.template("shaoxing", name="绍兴通用券")
    db.session.commit()
    page = text_of(client.get("/worker/cards"))
    assert "需在本地缴纳失业保险满36个月，您目前为20个月" in page
    assert "/worker/cards/" not in page.split("绍兴通用券", 1)[1].split("</section>", 1)[0]


def test_card_center_hides_templates_targeted_at_others_and_shows_my_offer(client, worker):
    f.template(name="别人的定向人群券", audience="targeted")
    mine = f.template(name="给我的券", audience="targeted")
    f.voucher(mine, worker, "offered", expires_at=utcnow() + timedelta(days=5))
    db.session.commit()
    page = text_of(client.get("/worker/cards"))
    assert "给我的券" in page and "已为您预留" in page
    assert "别人的定向人群券" not in page


def test_claim_shows_whose_identity_then_claims_on_confirm(client, worker):
    template = f.template()
    db.session.commit()
    confirm = text_of(client.get(f"/worker/cards/{template.id}"))
    assert "王*国" in confirm and worker.id_number[:4] + "**********" + worker.id_number[-4:] in confirm
    assert worker.id_number not in confirm

    response = client.post(f"/worker/cards/{template.id}")
    voucher = db.session.scalar(select(Voucher).where(Voucher.person_id == worker.id))
    assert response.status_code == 302 and response.headers["Location"] == f"/worker/vouchers/{voucher.code}?claimed=1"
    assert voucher.status == "claimed"
    assert "领取成功" in text_of(client.get(response.headers["Location"]))
    assert "领取成功" not in text_of(client.get(f"/worker/vouchers/{voucher.code}"))


def test_second_claim_is_refused_with_a_message_and_changes_nothing(client, worker):
    template = f.template()
    db.session.commit()
    client.post(f"/worker/cards/{template.id}")
    response = client.get(f"/worker/cards/{template.id}")
    assert response.status_code == 302 and response.headers["Location"] == "/worker/vouchers"  # it is in 我的卡券
    assert "您已领取过该培训券" in text_of(client.get("/worker/vouchers"))
    assert db.session.scalar(select(func.count(Voucher.id))) == 1


def test_claim_after_stock_ran_out_says_so(client, worker):
    template = f.template(stock=1)
    other = f.person()
    db.session.commit()
    from h5app.vouchers import claim

    page_first = client.get(f"/worker/cards/{template.id}")
    assert page_first.status_code == 200
    claim.claim(db.session, other, template)
    response = client.post(f"/worker/cards/{template.id}")
    assert response.status_code == 400 and "已领完" in text_of(response)
    assert db.session.scalar(select(func.count(Voucher.id)).where(Voucher.person_id == worker.id)) == 0


def test_unknown_or_directed_template_is_404(client, worker):
    directed = f.directed_template()
    db.session.commit()
    assert client.get("/worker/cards/999999").status_code == 404
    assert client.get(f"/worker/cards/{directed.id}").status_code == 404


def test_my_vouchers_tabs_sort_by_state_with_days_left(client, worker):
    template = f.template()
    usable = f.voucher(template, worker, "claimed", expires_at=utcnow() + timedelta(days=10))
    f.voucher(f.template(name="旧券"), worker, "claimed", expires_at=utcnow() - timedelta(days=1))
    db.session.commit()
    usable_tab = text_of(client.get("/worker/vouchers"))
    assert usable.code in usable_tab and "天到期" in usable_tab and "旧券" not in usable_tab
    expired_tab = text_of(client.get("/worker/vouchers?tab=expired"))
    assert "旧券" in expired_tab  # overdue is 已失效 even though no expiry job ran
    assert client.get("/worker/vouchers?tab=nonsense").status_code == 200


def test_a_held_vouchers_page_gives_its_own_deadline_not_the_templates_claim_facts(client, worker):
    voucher = f.voucher(f.template(name="就业技能培训券", stock=10), worker, "claimed", expires_at=f.utcnow_plus(days=10))
    expired = f.voucher(f.template(name="过期培训券"), worker, "expired", expires_at=f.utcnow_plus(days=-3))
    db.session.commit()
    page = text_of(client.get(f"/worker/vouchers/{voucher.code}"))
    assert "前到培训机构验券使用（还剩" in page and "逾期失效" in page
    assert "剩余数量" not in page and "领取时间" not in page
    assert "到期），不能再使用" in text_of(client.get(f"/worker/vouchers/{expired.code}"))


def test_voucher_page_shows_a_valid_qr_the_code_and_a_refresh_link(client, worker):
    voucher = f.voucher(f.template(), worker, "claimed", expires_at=utcnow() + timedelta(days=10))
    db.session.commit()
    page = text_of(client.get(f"/worker/vouchers/{voucher.code}"))
    assert "<svg" in page and "刷新二维码" in page and voucher.code[:4] in page
    assert re.search(r"/static/js/live-qr\.[0-9a-f]{12}\.js", page)  # by its content-hashed name


def test_qr_json_gives_a_fresh_token_for_this_voucher(client, worker):
    voucher = f.voucher(f.template(), worker, "claimed", expires_at=utcnow() + timedelta(days=10))
    db.session.commit()
    response = client.get(f"/worker/vouchers/{voucher.code}/qr.json")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    data = response.get_json()
    assert data["svg"].startswith("<svg") and 1 <= data["refresh_in"] <= 30
    assert qrtoken.verify(app_qr_secret(), data["token"]) == ("V", voucher.code)


def test_another_persons_voucher_is_404(client, worker):
    theirs = f.voucher(f.template(), f.person(), "claimed", expires_at=utcnow() + timedelta(days=10))
    db.session.commit()
    assert client.get(f"/worker/vouchers/{theirs.code}").status_code == 404
    assert client.get(f"/worker/vouchers/{theirs.code}/qr.json").status_code == 404


def test_a_revoked_voucher_shows_no_qr(client, worker):
    voucher = f.voucher(f.template(), worker, "revoked", revoke_reason="重复发放")
    db.session.commit()
    page = text_of(client.get(f"/worker/vouchers/{voucher.code}"))
    assert "<svg" not in page and "重复发放" in page
    assert client.get(f"/worker/vouchers/{voucher.code}/qr.json").status_code == 409


def test_claiming_again_after_pressing_back_says_the_voucher_is_already_mine(client, worker):
    template = f.template(name="再次领取券")
    db.session.commit()
    assert client.post(f"/worker/cards/{template.id}").status_code == 302

    again = client.post(f"/worker/cards/{template.id}", follow_redirects=True)

    assert again.status_code == 200 and "您已领取过该培训券" in text_of(again) and "页面不存在" not in text_of(again)


def test_claiming_after_the_window_closed_says_so(client, worker):
    from datetime import date

    template = f.template(name="过期券", claim_starts_on=date(2025, 1, 1), claim_ends_on=date(2025, 6, 30),
                          valid_until=None)
    db.session.commit()

    for method in ("get", "post"):
        response = getattr(client, method)(f"/worker/cards/{template.id}", follow_redirects=True)
        page = text_of(response)
        assert response.status_code == 200 and "领取时间已于2025年6月30日结束" in page and "页面不存在" not in page
