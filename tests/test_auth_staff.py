"""Staff username + password with lockout and session rotation; roles; CSRF; error pages."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.auth.users import STAFF_SIGNED_IN_AT
from h5app.extensions import login_manager
from h5app.models import AuditEvent
from h5app.timeutil import utcnow

from . import factories as f
from .auth_support import (
    WECHAT_WIFI, WECHAT_4G, ticket_for, text_of, signed_in_user_id, staff_login, request_code,
)


# --- staff username + password -----------------------------------------------------------------

@pytest.mark.parametrize("role, home", [
    ("bureau", "/bureau/"), ("officer", "/institution/"), ("verifier", "/institution/"),
])
def test_staff_login_lands_on_the_role_home(client, session, role, home):
    user = f.staff(role)
    session.commit()
    response = staff_login(client, user.username)
    assert response.status_code == 302
    assert response.headers["Location"] == home
    assert signed_in_user_id(client) == f"s:{user.id}"
    assert client.get(home).status_code == 200
    session.refresh(user)
    assert user.last_login_at is not None and user.failed_logins == 0


def test_a_username_typed_in_another_case_signs_in(client, session):
    """On a phone's keyboard the first letter comes out capitalised: Officer1 is officer1."""
    user = f.staff("officer", username="officer_case")
    session.commit()
    response = staff_login(client, "Officer_Case")
    assert response.status_code == 302 and signed_in_user_id(client) == f"s:{user.id}"


def test_worker_home_is_the_worker_page(client, session, channel):
    client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())})
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/worker/"


def test_signed_in_staff_visiting_login_goes_home(client, session):
    user = f.staff("bureau")
    session.commit()
    staff_login(client, user.username)
    response = client.get("/login")
    assert response.status_code == 302 and response.headers["Location"] == "/bureau/"


def test_staff_login_follows_a_local_next_only(client, session):
    user = f.staff("bureau")
    session.commit()
    response = staff_login(client, user.username, query_string={"next": "//evil.com/bureau/"})
    assert response.headers["Location"] == "/bureau/"
    client.post("/logout")
    response = staff_login(client, user.username, query_string={"next": "/bureau/?x=1"})
    assert response.headers["Location"] == "/bureau/?x=1"


def test_wrong_password_and_unknown_user_get_the_same_message(client, session):
    user = f.staff("officer")
    session.commit()
    wrong = staff_login(client, user.username, "Wrong-password-1")
    unknown = staff_login(client, "nobody-here", "Wrong-password-1")
    assert wrong.status_code == unknown.status_code == 400
    message = re.compile(r'<p class="notice notice-error" role="alert">(.*?)</p>')
    assert "用户名或密码错误" in message.search(text_of(wrong)).group(1)
    assert message.search(text_of(wrong)).group(1) == message.search(text_of(unknown)).group(1)
    assert signed_in_user_id(client) is None
    session.refresh(user)
    assert user.failed_logins == 1


@pytest.mark.parametrize("data", [{}, {"username": "someone"}, {"password": "x"}])
def test_empty_login_fields_are_refused_with_a_message(client, data):
    response = client.post("/login", data=data)
    assert response.status_code == 400
    assert "请输入" in text_of(response)
    assert signed_in_user_id(client) is None


def test_lockout_after_max_failed_logins(app, client, session):
    user = f.staff("officer")
    session.commit()
    limit = app.config["STAFF_MAX_FAILED_LOGINS"]
    for _ in range(limit):
        assert staff_login(client, user.username, "Wrong-password-1").status_code == 400
    session.refresh(user)
    assert user.locked_until is not None and user.locked_until > utcnow()
    response = staff_login(client, user.username)  # even the right password
    assert response.status_code == 400
    assert "锁定" in text_of(response)
    assert signed_in_user_id(client) is None
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "staff.lockout")) == 1


def test_locked_account_unlocks_after_the_lockout_time(app, client, session):
    user = f.staff("officer")
    session.commit()
    for _ in range(app.config["STAFF_MAX_FAILED_LOGINS"]):
        staff_login(client, user.username, "Wrong-password-1")
    session.refresh(user)
    user.locked_until = utcnow() - timedelta(seconds=1)
    session.commit()
    response = staff_login(client, user.username)
    assert response.status_code == 302
    assert signed_in_user_id(client) == f"s:{user.id}"
    session.refresh(user)
    assert user.locked_until is None and user.failed_logins == 0


def test_lockout_limit_comes_from_config(make_app, session):
    user = f.staff("officer")
    username = user.username
    session.commit()  # and no open transaction: the other app's requests use their own session
    client = make_app(STAFF_MAX_FAILED_LOGINS=2).test_client()
    staff_login(client, username, "Wrong-password-1")
    assert "锁定" in text_of(staff_login(client, username, "Wrong-password-1"))
    session.refresh(user)
    assert user.locked_until is not None


def test_successful_login_resets_the_failure_count(app, client, session):
    user = f.staff("officer")
    session.commit()
    for _ in range(app.config["STAFF_MAX_FAILED_LOGINS"] - 1):
        staff_login(client, user.username, "Wrong-password-1")
    assert staff_login(client, user.username).status_code == 302
    session.refresh(user)
    assert user.failed_logins == 0 and user.locked_until is None


def test_disabled_account_is_refused(client, session):
    user = f.staff("verifier", active=False)
    session.commit()
    response = staff_login(client, user.username)
    assert response.status_code == 400
    assert "停用" in text_of(response)
    assert signed_in_user_id(client) is None


def test_account_disabled_after_sign_in_loses_its_session(client, session):
    user = f.staff("verifier")
    session.commit()
    staff_login(client, user.username)
    assert client.get("/institution/").status_code == 200
    user.active = False
    session.commit()
    assert client.get("/institution/").status_code == 302


def test_password_is_stored_hashed_with_scrypt(session):
    user = f.staff("officer")
    session.commit()
    assert user.password_hash.startswith("scrypt:")
    assert f.PASSWORD not in user.password_hash
    assert user.check_password(f.PASSWORD) and not user.check_password(f.PASSWORD.upper())


def test_session_is_rotated_at_login(client, session):
    user = f.staff("bureau")
    session.commit()
    with client.session_transaction() as sess:
        sess["planted"] = "attacker-value"
        sess["_user_id"] = "s:999999"
    staff_login(client, user.username)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == f"s:{user.id}"
        assert not sess.permanent  # staff sessions end with the browser (shared front-desk devices)


@pytest.mark.parametrize("age_hours, signed_in", [(11.9, True), (12.1, False), (None, False),
                                                   (-0.01, True)])  # -: another instance's clock ahead
def test_a_staff_sign_in_lasts_the_working_day_whatever_the_cookie(client, session, age_hours, signed_in):
    user = f.staff("officer")
    session.commit()
    staff_login(client, user.username)
    with client.session_transaction() as sess:  # as a copied (or long-kept) cookie would be
        if age_hours is None:
            del sess[STAFF_SIGNED_IN_AT]  # a session from before sign-ins were timed
        else:
            sess[STAFF_SIGNED_IN_AT] -= int(age_hours * 3600)
    response = client.get("/institution/")
    assert (response.status_code == 200) is signed_in
    if not signed_in:
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_staff_sign_in_time_comes_from_config(make_app, session):
    username = f.staff("officer").username
    session.commit()  # and no open transaction: the other app's requests use their own session
    client = make_app(STAFF_SESSION_HOURS=1).test_client()
    staff_login(client, username)
    with client.session_transaction() as sess:
        sess[STAFF_SIGNED_IN_AT] -= 2 * 3600
    assert client.get("/institution/").status_code == 302


def test_session_is_rotated_at_sso_login(client, channel):
    with client.session_transaction() as sess:
        sess["planted"] = "attacker-value"
    client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())})
    with client.session_transaction() as sess:
        assert "planted" not in sess


def test_session_protection_is_basic(app):
    assert login_manager.session_protection == "basic"
    assert app.config.get("SESSION_PROTECTION", "basic") == "basic"


def test_wechat_network_change_does_not_sign_a_worker_out(client, channel):
    client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())},
               headers={"User-Agent": WECHAT_WIFI})
    assert client.get("/worker/", headers={"User-Agent": WECHAT_WIFI}).status_code == 200
    response = client.get("/worker/", headers={"User-Agent": WECHAT_4G})
    assert response.status_code == 200
    assert signed_in_user_id(client) is not None


# --- roles -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/bureau/", "/institution/"])
def test_worker_cannot_open_staff_areas(client, channel, path):
    client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())})
    response = client.get(path)
    assert response.status_code == 403
    assert "没有权限" in text_of(response)


@pytest.mark.parametrize("role, path", [
    ("officer", "/bureau/"), ("verifier", "/bureau/"), ("bureau", "/institution/"), ("bureau", "/worker/"),
    ("officer", "/worker/"),
])
def test_staff_cannot_open_another_roles_area(client, session, role, path):
    user = f.staff(role)
    session.commit()
    staff_login(client, user.username)
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("path", ["/bureau/", "/institution/"])
def test_anonymous_is_sent_to_staff_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_anonymous_worker_page_is_sent_to_a_worker_sign_in(client):
    """The staff password page is no use to a worker whose session ran out."""
    response = client.get("/worker/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sms?next=")
    follow = client.get(response.headers["Location"])
    assert follow.status_code == 200 and "手机号" in text_of(follow)


def test_logout_is_post_only(client, session):
    user = f.staff("bureau")
    session.commit()
    staff_login(client, user.username)
    response = client.get("/logout")
    assert response.status_code == 405
    assert signed_in_user_id(client) == f"s:{user.id}"
    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in_user_id(client) is None
    assert client.get("/bureau/").status_code == 302


# --- CSRF and error pages ----------------------------------------------------------------------

def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"',
                     html).group(1)


def test_login_post_without_csrf_token_is_refused(make_app, session):
    user = f.staff("bureau")
    username = user.username
    session.commit()  # and no open transaction: the other app's requests use their own session
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    client.get("/login")
    response = staff_login(client, username)
    assert response.status_code == 400
    assert "页面已过期" in text_of(response)
    assert signed_in_user_id(client) is None


def test_login_post_with_csrf_token_works(make_app, session):
    user = f.staff("bureau")
    username = user.username
    session.commit()  # and no open transaction: the other app's requests use their own session
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    token = _csrf_token(text_of(client.get("/login")))
    response = client.post("/login", data={"username": username, "password": f.PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/bureau/"


def test_logout_without_csrf_token_is_refused(make_app, session):
    user = f.staff("bureau")
    username, user_id = user.username, user.id
    session.commit()  # and no open transaction: the other app's requests use their own session
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    token = _csrf_token(text_of(client.get("/login")))
    client.post("/login", data={"username": username, "password": f.PASSWORD, "csrf_token": token})
    assert client.post("/logout").status_code == 400
    assert signed_in_user_id(client) == f"s:{user_id}"


def test_404_renders_the_chinese_error_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    body = text_of(response)
    assert "页面不存在" in body and 'lang="zh-CN"' in body and "返回首页" in body


def test_405_renders_the_chinese_error_page(client):
    response = client.put("/login")
    assert response.status_code == 405
    assert "不支持的操作" in text_of(response)


def test_500_renders_the_chinese_error_page(make_app):
    app = make_app(TESTING=False)

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert "系统繁忙" in text_of(response) and "boom" not in text_of(response)


def test_too_many_code_requests_get_the_chinese_429_page(make_app, restore_limiter):
    client = make_app(RATELIMIT_ENABLED=True).test_client()
    for _ in range(10):
        assert request_code(client, "12345").status_code == 400
    response = request_code(client, "12345")
    assert response.status_code == 429
    assert "操作太频繁" in text_of(response)
