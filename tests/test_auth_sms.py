"""Phone + SMS code sign-in with the one-time real-name binding."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.auth import sms as sms_module
from h5app.identity import mask_id_number
from h5app.models import AuditEvent, Person, SmsCode
from h5app.timeutil import utcnow

from . import factories as f
from .auth_support import (
    text_of, signed_in_user_id, assert_nobody_signed_in, sms_code, latest_sms_row, PHONE, request_code, enter_code, _verify_new_phone, bind, _bad_check_digit_id,
)


# --- phone + SMS code --------------------------------------------------------------------------

def test_sms_sends_a_code_and_the_code_is_stored_hashed(app, client, session):
    response = request_code(client)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sms/verify")
    code = sms_code(app, PHONE)
    row = latest_sms_row(session, PHONE)
    assert code not in row.code_hash
    assert row.expires_at - row.created_at == timedelta(minutes=5)
    page = client.get("/sms/verify")
    assert "138****0099" in text_of(page)


def test_phone_is_normalised_before_sending(app, client):
    assert request_code(client, "+86 138-0575-0099").status_code == 302
    assert sms_code(app, PHONE)


@pytest.mark.parametrize("phone", ["", "12345", "23805750099", "1380575009", "138057500999", "abcdefghijk"])
def test_invalid_phone_is_refused_and_nothing_sent(app, client, session, phone):
    response = request_code(client, phone)
    assert response.status_code == 400  # the form page again, with the field's error
    assert "手机号" in text_of(response)
    assert app.extensions["sms_outbox"] == []
    assert session.scalar(select(func.count(SmsCode.id))) == 0


def test_resend_within_60_seconds_is_refused(app, client, new_client, session):
    request_code(client)
    response = request_code(new_client())
    assert response.status_code == 400
    assert "秒后再试" in text_of(response)
    assert len(app.extensions["sms_outbox"]) == 1
    assert session.scalar(select(func.count(SmsCode.id))) == 1


def test_asking_again_too_soon_goes_back_to_the_code_already_sent(app, client, session):
    request_code(client)
    response = request_code(client)
    assert response.status_code == 302 and "/sms/verify" in response.headers["Location"]
    assert "请输入短信中的6位验证码" in text_of(client.get(response.headers["Location"]))
    assert len(app.extensions["sms_outbox"]) == 1


def test_a_dead_code_shows_only_the_way_to_a_new_one(app, client, session):
    request_code(client)
    good = sms_code(app, PHONE)
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    for _ in range(5):
        response = enter_code(client, wrong)
    page = text_of(response)
    assert "重新获取验证码" in page and "5分钟内有效" not in page and 'name="code"' not in page


def test_resend_after_60_seconds_is_allowed(app, client, session):
    request_code(client)
    row = latest_sms_row(session, PHONE)
    row.created_at -= timedelta(seconds=61)
    session.commit()
    assert request_code(client).status_code == 302
    assert len(app.extensions["sms_outbox"]) == 2


def test_verify_without_requesting_a_code_goes_back_to_the_phone_page(client):
    response = enter_code(client, "123456")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sms")


def test_wrong_code_counts_attempts(app, client, session):
    request_code(client)
    good = sms_code(app, PHONE)
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    response = enter_code(client, wrong)
    assert response.status_code == 400
    assert "还可尝试4次" in text_of(response)
    assert latest_sms_row(session, PHONE).attempts == 1
    assert_nobody_signed_in(client)


def test_five_wrong_attempts_kill_the_code(app, client, session):
    request_code(client)
    good = sms_code(app, PHONE)
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    for _ in range(5):
        assert enter_code(client, wrong).status_code == 400
    response = enter_code(client, good)
    assert response.status_code == 400
    assert "输错次数过多" in text_of(response)
    assert_nobody_signed_in(client)
    with client.session_transaction() as sess:
        assert "bind_code_id" not in sess


def test_expired_code_is_refused(app, client, session):
    request_code(client)
    row = latest_sms_row(session, PHONE)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    response = enter_code(client, sms_code(app, PHONE))
    assert response.status_code == 400
    assert "已过期" in text_of(response)
    assert_nobody_signed_in(client)


def test_used_code_cannot_be_used_twice(app, client, session):
    f.person(phone=PHONE)
    session.commit()
    request_code(client)
    code = sms_code(app, PHONE)
    assert enter_code(client, code).headers["Location"] == "/worker/"
    client.post("/logout")
    with client.session_transaction() as sess:  # replay: the browser presents the spent code again
        sess["sms_code_id"] = latest_sms_row(session, PHONE).id
    response = enter_code(client, code)
    assert response.status_code == 400
    assert signed_in_user_id(client) is None


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", ""])
def test_malformed_code_is_refused_without_counting(app, client, session, code):
    request_code(client)
    response = enter_code(client, code)
    assert response.status_code == 400
    assert "验证码" in text_of(response)
    assert latest_sms_row(session, PHONE).attempts == 0


def test_first_login_of_a_new_phone_goes_to_binding_then_worker_home(app, client, session):
    _verify_new_phone(app, client)
    assert signed_in_user_id(client) is None  # not signed in before the real-name binding
    page = client.get("/bind")
    assert page.status_code == 200 and "138****0099" in text_of(page)
    id_number = f.valid_id_number()
    response = bind(client, "  陈小燕 ", id_number.lower() if id_number.endswith("X") else id_number)
    assert response.status_code == 302
    assert response.headers["Location"] == "/worker/"
    person = session.scalar(select(Person).where(Person.phone == PHONE))
    assert (person.name, person.id_number, person.verified_via) == ("陈小燕", id_number, "sms")
    assert signed_in_user_id(client) == f"p:{person.id}"
    home = client.get("/worker/")
    assert home.status_code == 200
    assert "实名绑定成功" in text_of(home)
    assert mask_id_number(id_number) in text_of(home)
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "person.bind_phone")) == 1


def test_bind_without_a_verified_phone_goes_to_the_phone_page(client, session):
    response = bind(client, "陈小燕", f.valid_id_number())
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sms")
    assert session.scalar(select(func.count(Person.id))) == 0


def test_bind_refuses_an_invalid_id_check_digit(app, client, session):
    _verify_new_phone(app, client)
    response = bind(client, "陈小燕", _bad_check_digit_id())
    assert response.status_code == 400
    assert "校验位不正确" in text_of(response)
    assert session.scalar(select(func.count(Person.id))) == 0
    assert signed_in_user_id(client) is None


def test_bind_refuses_a_name_that_does_not_match_the_id(app, client, session):
    person = f.person(name="王建国", phone=None)
    session.commit()
    _verify_new_phone(app, client)
    response = bind(client, "王建华", person.id_number)
    assert response.status_code == 400
    assert "姓名与身份证号不匹配" in text_of(response)
    session.refresh(person)
    assert person.phone is None
    assert signed_in_user_id(client) is None


def test_bind_refuses_an_id_bound_to_another_phone(app, client, session):
    person = f.person(name="王建国", phone="13900000001")
    session.commit()
    _verify_new_phone(app, client)
    response = bind(client, "王建国", person.id_number)
    assert response.status_code == 400
    assert "已绑定其他手机号" in text_of(response)
    session.refresh(person)
    assert person.phone == "13900000001"
    assert signed_in_user_id(client) is None


def test_bind_attaches_the_phone_to_a_roster_person_without_a_phone(app, client, session):
    person = f.person(name="王建国", phone=None, verified_via="roster")
    session.commit()
    _verify_new_phone(app, client)
    assert bind(client, "王建国", person.id_number).status_code == 302
    session.refresh(person)
    assert (person.phone, person.verified_via) == (PHONE, "sms")
    assert signed_in_user_id(client) == f"p:{person.id}"
    assert session.scalar(select(func.count(Person.id))) == 1


def test_bind_cannot_take_over_an_identity_a_channel_verified(app, client, session):
    person = f.person(name="王建国", phone=None, verified_via="sso:zhrs")
    session.commit()
    _verify_new_phone(app, client)
    response = bind(client, "王建国", person.id_number)
    assert response.status_code == 400 and "姓名与身份证号不匹配" in text_of(response)
    assert "请从该渠道的电子社保卡进入" in text_of(response)  # the way in, in the one message every refusal gets
    session.refresh(person)
    assert person.phone is None
    assert signed_in_user_id(client) is None


def test_five_failed_bindings_end_the_binding_step(app, client, session):
    person = f.person(name="王建国", phone=None, verified_via="roster")
    session.commit()
    _verify_new_phone(app, client)
    for _ in range(4):
        assert bind(client, "李四", person.id_number).status_code == 400
    response = bind(client, "李四", person.id_number)
    assert response.status_code == 302 and response.headers["Location"].endswith("/sms")
    assert bind(client, "王建国", person.id_number).status_code == 302  # back to the start, not bound
    session.refresh(person)
    assert person.phone is None


def test_second_login_of_the_same_phone_signs_straight_in(app, client, session):
    _verify_new_phone(app, client)
    bind(client, "陈小燕", f.valid_id_number())
    person = session.scalar(select(Person).where(Person.phone == PHONE))
    client.post("/logout")
    assert signed_in_user_id(client) is None
    latest_sms_row(session, PHONE).created_at -= timedelta(seconds=61)
    session.commit()
    request_code(client)
    response = enter_code(client, sms_code(app, PHONE))
    assert response.status_code == 302
    assert response.headers["Location"] == "/worker/"
    assert signed_in_user_id(client) == f"p:{person.id}"


def test_phone_on_an_institution_roster_still_needs_real_name_binding(app, client, session):
    """A roster row's phone was typed by an institution, not proven by its owner: whoever holds the
    phone must still confirm name + ID before they see that person's vouchers."""
    person = f.person(name="孙丽", phone=PHONE, verified_via="roster")
    session.commit()
    _verify_new_phone(app, client)
    assert signed_in_user_id(client) is None
    assert bind(client, "孙丽", person.id_number).status_code == 302
    session.refresh(person)
    assert person.verified_via == "sms"
    assert signed_in_user_id(client) == f"p:{person.id}"


def test_binding_takes_a_phone_back_from_an_unproven_roster_row(app, client, session):
    """The institution typed someone else's number: the phone's owner, proven by the SMS code,
    binds their own identity and the roster row loses the number."""
    listed = f.person(name="孙丽", phone=PHONE, verified_via="roster")
    session.commit()
    _verify_new_phone(app, client)
    id_number = f.valid_id_number()
    response = bind(client, "陈小燕", id_number)
    assert response.status_code == 302 and response.headers["Location"] == "/worker/"
    owner = session.scalar(select(Person).where(Person.id_number == id_number))
    session.refresh(listed)
    assert (owner.phone, listed.phone, listed.verified_via) == (PHONE, None, "roster")
    assert signed_in_user_id(client) == f"p:{owner.id}"


def test_sms_login_follows_a_local_next_only(app, client, session):
    f.person(phone=PHONE)
    session.commit()
    request_code(client, query_string={"next": "https://evil.com"})
    response = enter_code(client, sms_code(app, PHONE), query_string={"next": "https://evil.com"})
    assert response.headers["Location"] == "/worker/"
    client.post("/logout")
    latest_sms_row(session, PHONE).created_at -= timedelta(seconds=61)
    session.commit()
    response = request_code(client, query_string={"next": "/worker/?tab=1"})
    assert "next=" in response.headers["Location"]
    response = enter_code(client, sms_code(app, PHONE), query_string={"next": "/worker/?tab=1"})
    assert response.headers["Location"] == "/worker/?tab=1"


def test_console_backend_logs_a_masked_phone(app, caplog):
    with app.test_request_context():
        sms_module.console_backend(PHONE, "验证码123456")
    assert PHONE not in caplog.text
    assert "138****0099" in caplog.text
