"""A worker's own 收款账户: 我的 → 收款账户 (shown masked, saved only in the worker's real name and with
a card number that checks out) and PUT /people/{id_number}/payee for the channel the worker signed in
through."""
import gzip
import re

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import PayeeAccount

from . import factories as f
from .api_support import auth, error_code, key_for, world
from .auth_support import sign_in, signed_in_worker, text_of
from .page_support import ASSET, BUDGET, EXTERNAL

CARD = f.CARD_NUMBER  # 6222021001115550003, a valid Luhn number
MASKED = "6222***********0003"
BAD_CHECK_DIGIT = CARD[:-1] + "4"


def card(**values) -> dict:
    return {"account_name": "王建国", "bank_name": "中国工商银行绍兴越城支行", "account_number": CARD, **values}


def accounts() -> int:
    """Workers' accounts (the API's world gives its institutions theirs)."""
    return db.session.scalar(select(func.count(PayeeAccount.id)).where(PayeeAccount.person_id.is_not(None)))


@pytest.fixture
def worker(client):
    return signed_in_worker(client, name="王建国")


# ---- the page -----------------------------------------------------------------------------------

def test_me_links_to_the_payee_page(client, worker):
    assert 'href="/worker/me/payee"' in text_of(client.get("/worker/me"))


def test_payee_page_without_an_account_explains_and_offers_the_form(client, worker):
    response = client.get("/worker/me/payee")
    page = text_of(response)
    assert response.status_code == 200
    assert "证书类培训补贴将直接发放到您本人的银行卡，请填写本人名下的银行卡" in page
    assert 'name="account_name"' in page and 'value="王建国"' in page  # prefilled with the real name
    number_input = re.search(r'<input[^>]*name="account_number"[^>]*>', page).group(0)
    assert 'inputmode="numeric"' in number_input and 'autocomplete="off"' in number_input


def test_saving_the_card_flashes_and_shows_it_masked_never_in_full(client, worker):
    response = client.post("/worker/me/payee", data=card(account_number="6222 0210 0111 5550 003"))
    assert response.status_code == 302 and response.headers["Location"] == "/worker/me/payee"
    page = text_of(client.get("/worker/me/payee"))
    assert "收款账户已保存" in page and MASKED in page and "中国工商银行绍兴越城支行" in page
    assert CARD not in page
    account = db.session.scalar(select(PayeeAccount).where(PayeeAccount.person_id == worker.id))
    assert (account.status, account.account_number, account.account_name) == ("active", CARD, "王建国")


def test_saving_is_audited_with_the_masked_number(client, worker):
    client.post("/worker/me/payee", data=card())
    [event] = f.audit_events(action="payee.set", person_id=worker.id)
    assert event.details["account_number"] == MASKED and CARD not in str(event.details)


def test_a_new_card_replaces_the_old_one(client, worker):
    f.payee_account(person_id=worker.id, account_number="6222020200112233445", bank_name="旧银行")
    db.session.commit()
    assert "6222***********3445" in text_of(client.get("/worker/me/payee"))
    client.post("/worker/me/payee", data=card())
    statuses = dict(db.session.execute(select(PayeeAccount.account_number, PayeeAccount.status)).all())
    assert statuses == {"6222020200112233445": "replaced", CARD: "active"}


def test_an_account_name_other_than_the_real_name_is_refused(client, worker):
    response = client.post("/worker/me/payee", data=card(account_name="李四"))
    page = text_of(response)
    assert response.status_code == 400
    assert "户名须为本人实名" in page
    assert re.search(r'name="account_name"[^>]*>\s*<p class="field-error"[^>]*>户名须为本人实名', page)
    assert accounts() == 0


def test_a_wrong_check_digit_is_refused_next_to_the_card_number(client, worker):
    response = client.post("/worker/me/payee", data=card(account_number=BAD_CHECK_DIGIT))
    page = text_of(response)
    assert response.status_code == 400
    assert re.search(r'name="account_number"[^>]*>\s*<p class="field-error"[^>]*>银行卡号校验位不正确', page)
    assert accounts() == 0


@pytest.mark.parametrize("values, field, message", [
    ({"account_number": "62220210"}, "account_number", "银行卡号应为16到19位数字"),
    ({"account_number": "6222abc001115550003"}, "account_number", "银行账号只能包含数字"),
    ({"bank_name": ""}, "bank_name", "请填写开户行"),
    ({"account_name": ""}, "account_name", "请填写户名"),
])
def test_incomplete_or_malformed_cards_are_refused_on_their_field(client, worker, values, field, message):
    response = client.post("/worker/me/payee", data=card(**values))
    assert response.status_code == 400
    assert re.search(rf'name="{field}"[^>]*>\s*<p class="field-error"[^>]*>[^<]*{message}', text_of(response))
    assert accounts() == 0


def test_a_worker_without_real_name_binding_is_sent_to_bind_first(client):
    person = f.person(verified_via=None)
    db.session.commit()
    sign_in(client, person)
    page = text_of(client.get("/worker/me/payee"))
    assert "请先完成实名认证" in page and 'href="/bind?next=/worker/me/payee"' in page
    assert 'name="account_number"' not in page
    response = client.post("/worker/me/payee", data=card())
    assert response.status_code == 400 and "请先完成实名认证" in text_of(response)
    assert accounts() == 0


def test_post_without_csrf_token_is_refused(make_app, session):
    person = f.person(name="王建国")
    session.commit()
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    sign_in(client, person)
    session.rollback()  # the other app's requests must not wait for this session's SQLite lock
    assert client.post("/worker/me/payee", data=card()).status_code == 400
    assert accounts() == 0
    session.rollback()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      text_of(client.get("/worker/me/payee"))).group(1)
    assert client.post("/worker/me/payee", data={**card(), "csrf_token": token}).status_code == 302
    assert accounts() == 1


def test_the_payee_page_stays_light_and_loads_nothing_from_elsewhere(client, worker):
    html = text_of(client.get("/worker/me/payee"))
    total = len(gzip.compress(html.encode())) + sum(
        len(gzip.compress(client.get(asset).get_data())) for asset in set(ASSET.findall(html)))
    assert total < BUDGET and not EXTERNAL.search(html)


def test_the_payee_page_needs_a_signed_in_worker(client):
    response = client.get("/worker/me/payee")
    assert response.status_code in (302, 401, 403)
    assert "account_number" not in text_of(response)


# ---- the API ------------------------------------------------------------------------------------

@pytest.fixture
def w(session):
    return world()  # w.person signed in through channel "zhrs"; w.channel_key is that channel's


def put_payee(client, key, id_number, body):
    return client.put(f"/api/v1/people/{id_number}/payee", json=body, headers=auth(key))


def test_channel_sets_the_payee_of_a_person_who_signed_in_through_it(client, w, session):
    response = put_payee(client, w.channel_key, w.person.id_number, card())
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["id_number"] != w.person.id_number and body["id_number"][-4:] == w.person.id_number[-4:]
    assert body["payee"] == {"account_name": "王建国", "bank_name": "中国工商银行绍兴越城支行",
                             "account_number": MASKED}
    assert CARD not in response.get_data(as_text=True)
    account = session.scalar(select(PayeeAccount).where(PayeeAccount.person_id == w.person.id))
    assert (account.status, account.account_number) == ("active", CARD)
    [event] = f.audit_events(action="payee.set", person_id=w.person.id)
    assert event.actor_type == "api_key"


def test_another_channels_person_is_not_found(client, w, session):
    other = f.person(channel_code="other")
    session.commit()
    response = put_payee(client, w.channel_key, other.id_number, card())
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"
    unknown = put_payee(client, w.channel_key, f.valid_id_number(serial=777), card())
    assert unknown.status_code == 404 and error_code(unknown) == "NOT_FOUND"
    assert accounts() == 0


@pytest.mark.parametrize("key", ["bureau_key", "institution_key"])
def test_bureau_and_institution_keys_are_forbidden(client, w, key):
    response = put_payee(client, getattr(w, key), w.person.id_number, card())
    assert response.status_code == 403 and error_code(response) == "FORBIDDEN"
    assert accounts() == 0


def test_a_bad_id_number_is_422(client, w):
    response = put_payee(client, w.channel_key, "123456", card())
    assert response.status_code == 422 and "id_number" in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("values, field", [
    ({"account_number": BAD_CHECK_DIGIT}, "account_number"),
    ({"account_number": "12345"}, "account_number"),
    ({"bank_name": ""}, "bank_name"),
    ({"account_name": "李四"}, "account_name"),
])
def test_a_bad_card_is_422_with_its_field(client, w, values, field):
    response = put_payee(client, w.channel_key, w.person.id_number, card(**values))
    assert response.status_code == 422 and error_code(response) == "VALIDATION_FAILED"
    assert field in response.get_json()["error"]["fields"]
    assert accounts() == 0


def test_a_body_missing_a_field_is_422(client, w):
    body = card()
    del body["account_number"]
    response = put_payee(client, w.channel_key, w.person.id_number, body)
    assert response.status_code == 422 and "account_number" in response.get_json()["error"]["fields"]


def test_a_channel_may_send_the_account_wrapped_as_api_md_writes_it(client, w, session):
    response = put_payee(client, w.channel_key, w.person.id_number, {"payee": card()})
    assert response.status_code == 200, response.get_json()
    account = session.scalar(select(PayeeAccount).where(PayeeAccount.person_id == w.person.id))
    assert account.account_number == CARD


def test_the_endpoint_is_in_the_openapi_document(client):
    operation = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/people/{id_number}/payee"]["put"]
    assert operation["x-scopes"] == ["channel"]
    assert not any(p["name"] == "Idempotency-Key" for p in operation["parameters"])


def test_a_channel_key_of_another_channel_cannot_reach_the_person(client, w):
    other_key = key_for("channel", "other")
    response = put_payee(client, other_key, w.person.id_number, card())
    assert response.status_code == 404
