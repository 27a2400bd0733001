"""The demo ticket page and the admin commands (flask demo, users, apikeys, channels)."""
import hashlib
import re

import pytest
from sqlalchemy import func, select

from h5app.api.keys import digest
from h5app.models import ApiKey, Channel, Person, Region, StaffUser

from . import factories as f
from .auth_support import (
    ticket_for, text_of, signed_in_user_id, staff_login,
)


# --- demo ticket page --------------------------------------------------------------------------

def test_demo_ticket_page_signs_in_as_the_chosen_person(client, session, channel):
    first = f.person(name="王建国")
    chosen = f.person(name="李秀英")
    session.commit()
    page = client.get("/demo/tickets")
    assert page.status_code == 200 and "李秀英" in text_of(page)
    response = client.post("/demo/tickets", data={"channel": "zhrs", "person": str(chosen.id)})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sso/zhrs?ticket=")
    landed = client.get(response.headers["Location"])
    assert landed.headers["Location"] == "/worker/"
    assert signed_in_user_id(client) == f"p:{chosen.id}" != f"p:{first.id}"


def test_demo_ticket_page_without_data_says_how_to_seed(client):
    response = client.get("/demo/tickets")
    assert response.status_code == 200
    assert "flask --app wsgi demo" in text_of(response)


def test_demo_ticket_page_refuses_an_unknown_person(client, session, channel):
    f.person()
    session.commit()
    response = client.post("/demo/tickets", data={"channel": "zhrs", "person": "999999"})
    assert response.status_code == 200  # not a valid choice: the form again
    assert signed_in_user_id(client) is None


def test_demo_blueprint_is_absent_without_demo_mode(make_app, session, channel):
    f.person()
    session.commit()
    client = make_app(DEMO_MODE=False).test_client()
    assert client.get("/demo/tickets").status_code == 404
    assert client.post("/demo/tickets", data={"channel": "zhrs", "person": "1"}).status_code == 404
    assert "/demo/tickets" not in text_of(client.get("/"))


# --- CLI ---------------------------------------------------------------------------------------

def test_flask_demo_seeds_and_prints_sign_in_help(app, session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "演示数据已生成" in result.output
    assert "/login" in result.output and "/demo/tickets" in result.output and "bureau_admin" in result.output
    counts = (session.scalar(select(func.count(Person.id))), session.scalar(select(func.count(StaffUser.id))),
              session.scalar(select(func.count(Region.id))), session.scalar(select(func.count(Channel.id))))
    assert all(counts)
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0, again.output
    assert "已存在" in again.output and "/demo/tickets" in again.output
    assert counts == (session.scalar(select(func.count(Person.id))), session.scalar(select(func.count(StaffUser.id))),
                      session.scalar(select(func.count(Region.id))), session.scalar(select(func.count(Channel.id))))


def test_flask_demo_accounts_can_sign_in(app, client, session):
    result = app.test_cli_runner().invoke(args=["demo"])
    password = re.search(r"密码均为 (\S+?)）", result.output).group(1)
    assert staff_login(client, "bureau_admin", password).headers["Location"] == "/bureau/"
    client.post("/logout")
    assert staff_login(client, "verifier1", password).headers["Location"] == "/institution/"


def test_users_create_bureau_needs_a_region(app, session):
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "clerk", "--name", "何经办",
                                                "--role", "bureau", "--password", "Long-enough-123"])
    assert result.exit_code != 0
    assert "--region" in result.output
    assert session.scalar(select(func.count(StaffUser.id))) == 0


def test_users_create_bureau_refuses_an_unknown_region(app, session):
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "clerk", "--name", "何经办",
                                                "--role", "bureau", "--region", "999999",
                                                "--password", "Long-enough-123"])
    assert result.exit_code != 0
    assert session.scalar(select(func.count(StaffUser.id))) == 0


@pytest.mark.parametrize("password, message", [
    ("Short-1", "至少10位"), ("1234567890123", "字母和数字"), ("onlyletterspassword", "字母和数字"),
])
def test_users_create_refuses_weak_passwords(app, session, password, message):
    f.region("330600")
    session.commit()
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "clerk", "--name", "何经办",
                                                "--role", "bureau", "--region", "330600", "--password", password])
    assert result.exit_code != 0
    assert message in result.output
    assert session.scalar(select(func.count(StaffUser.id))) == 0


def test_users_create_with_a_password(app, client, session):
    f.region("330600")
    session.commit()
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "clerk", "--name", "何经办",
                                                "--role", "bureau", "--region", "330600",
                                                "--password", "Long-enough-123"])
    assert result.exit_code == 0, result.output
    assert "Long-enough-123" not in result.output
    user = session.scalar(select(StaffUser).where(StaffUser.username == "clerk"))
    assert (user.role, user.region_code, user.must_change_password) == ("bureau", "330600", False)
    assert user.password_hash.startswith("scrypt:")
    assert staff_login(client, "clerk", "Long-enough-123").headers["Location"] == "/bureau/"


def test_users_create_prints_a_generated_password_once(app, client, session):
    inst = f.institution(code="3306009")
    session.commit()
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "desk1", "--name", "前台",
                                                "--role", "verifier", "--institution", inst.code])
    assert result.exit_code == 0, result.output
    assert result.output.count("只显示这一次") == 1
    password = re.search(r"初始密码（只显示这一次）：(\S+)", result.output).group(1)
    user = session.scalar(select(StaffUser).where(StaffUser.username == "desk1"))
    assert user.institution_id == inst.id and user.must_change_password
    assert password not in user.password_hash
    assert staff_login(client, "desk1", password).headers["Location"] == "/institution/"


def test_users_create_institution_account_needs_an_institution(app, session):
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "desk1", "--name", "前台",
                                                "--role", "officer", "--institution", "nope"])
    assert result.exit_code != 0
    assert "--institution" in result.output


def test_users_create_refuses_a_taken_username(app, session):
    user = f.staff("bureau")
    session.commit()
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", user.username, "--name", "x",
                                                "--role", "bureau", "--region", "330600"])
    assert result.exit_code != 0
    assert "已存在" in result.output


def test_apikeys_create_prints_the_key_once_and_stores_only_its_hash(app, session):
    f.region("330600")
    session.commit()
    result = app.test_cli_runner().invoke(args=["apikeys", "create", "--name", "省就业平台", "--scope", "bureau",
                                                "--code", "330600"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("vk_") and result.output.count(key) == 1
    row = session.scalar(select(ApiKey))
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() == digest(key)
    assert key.startswith(row.prefix + ".")
    assert key not in (row.name, row.prefix, row.key_hash, row.scope_code)
    assert (row.scope_type, row.scope_code, row.revoked_at) == ("bureau", "330600", None)
    listing = app.test_cli_runner().invoke(args=["apikeys", "list"])
    assert row.prefix in listing.output and key not in listing.output


def test_apikeys_create_refuses_an_unknown_scope_object(app, session):
    result = app.test_cli_runner().invoke(args=["apikeys", "create", "--name", "x", "--scope", "institution",
                                                "--code", "nope"])
    assert result.exit_code != 0
    assert session.scalar(select(func.count(ApiKey.id))) == 0


def test_apikeys_revoke(app, session):
    f.channel()
    session.commit()
    runner = app.test_cli_runner()
    runner.invoke(args=["apikeys", "create", "--name", "渠道", "--scope", "channel", "--code", "zhrs"])
    row = session.scalar(select(ApiKey))
    result = runner.invoke(args=["apikeys", "revoke", row.prefix])
    assert result.exit_code == 0, result.output
    session.refresh(row)
    assert row.revoked_at is not None
    assert "已吊销" in runner.invoke(args=["apikeys", "list"]).output
    unknown = runner.invoke(args=["apikeys", "revoke", "vk_nope"])
    assert unknown.exit_code != 0 and "找不到" in unknown.output


def test_channels_create_prints_the_secret(app, client, session):
    result = app.test_cli_runner().invoke(args=["channels", "create", "--code", "ykb", "--name", "渝快办"])
    assert result.exit_code == 0, result.output
    secret = re.search(r"签名密钥（交给渠道方）：(\S+)", result.output).group(1)
    row = session.scalar(select(Channel).where(Channel.code == "ykb"))
    assert row.secret == secret and len(secret) >= 32
    assert "/sso/ykb" in result.output
    response = client.get("/sso/ykb", query_string={"ticket": ticket_for(f.valid_id_number(), secret=secret)})
    assert response.status_code == 302 and response.headers["Location"] == "/worker/"
    again = app.test_cli_runner().invoke(args=["channels", "create", "--code", "ykb", "--name", "渝快办"])
    assert again.exit_code != 0 and "已存在" in again.output
