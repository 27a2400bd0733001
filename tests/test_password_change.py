"""A staff account given a first password must set its own before doing anything else."""
import pytest

from h5app.extensions import db

from . import factories


@pytest.fixture
def first_timer():
    user = factories.staff("officer", must_change_password=True)
    db.session.commit()
    return user


def sign_in(client, user):
    return client.post("/login", data={"username": user.username, "password": factories.PASSWORD})


def test_first_password_forces_a_change_before_any_page(client, first_timer):
    sign_in(client, first_timer)
    response = client.get("/institution/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/password")
    assert "初始密码" in client.get("/password").get_data(as_text=True)


def test_changing_the_password_unlocks_the_account(client, first_timer):
    sign_in(client, first_timer)
    response = client.post("/password", data={"current_password": factories.PASSWORD,
                                               "new_password": "Brand-new-77", "confirm": "Brand-new-77"})
    assert response.status_code == 302
    assert client.get("/institution/").status_code == 200
    db.session.refresh(first_timer)
    assert not first_timer.must_change_password and first_timer.check_password("Brand-new-77")


@pytest.mark.parametrize("current,new,confirm,message", [
    ("wrong-password-1", "Brand-new-77", "Brand-new-77", "当前密码不正确"),
    (factories.PASSWORD, "short1", "short1", "密码至少10位"),
    (factories.PASSWORD, "onlyletterspassword", "onlyletterspassword", "同时包含字母和数字"),
    (factories.PASSWORD, "Brand-new-77", "Brand-new-78", "两次输入的新密码不一致"),
    (factories.PASSWORD, factories.PASSWORD, factories.PASSWORD, "不能与当前密码相同"),
])
def test_bad_password_changes_are_refused_and_change_nothing(client, first_timer, current, new, confirm, message):
    sign_in(client, first_timer)
    response = client.post("/password", data={"current_password": current, "new_password": new, "confirm": confirm})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    db.session.refresh(first_timer)
    assert first_timer.must_change_password and first_timer.check_password(factories.PASSWORD)


def test_workers_have_no_password_page(client):
    worker = factories.person()
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = worker.get_id()
        session["_fresh"] = True
    assert client.get("/password").status_code == 404


def test_generated_first_passwords_always_meet_the_rule():
    from h5app.auth.forms import generate_password, password_problem

    assert all(password_problem(generate_password()) is None for _ in range(300))


def test_first_passwords_have_no_look_alike_characters():
    from h5app.auth.forms import generate_password

    drawn = "".join(generate_password() for _ in range(300))
    assert not set(drawn) & set("0O1lIo")
    assert set(drawn) - {"-"} <= set("abcdefghjkmnpqrstuvwxyz23456789")


@pytest.mark.parametrize("password", ["abcdefghij-_", "1234567890--", "密码密码密码密码12345"])
def test_a_password_needs_an_ascii_letter_and_a_digit(password):
    from h5app.auth.forms import password_problem

    assert password_problem(password) == "密码须同时包含字母和数字"
