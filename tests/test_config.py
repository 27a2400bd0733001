"""Settings fail closed: production needs its secrets, development and demo mode must be asked for,
and no full ID number or phone reaches a log, not even inside a traceback."""
import logging

import pytest

from h5app import create_app
from h5app.config import ConfigError
from h5app.identity import MaskingFilter, is_valid_id_number, normalize_id_number


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("H5APP_ENV", "SECRET_KEY", "DATABASE_URL", "DEMO_MODE", "SMS_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_h5app_env_the_app_is_production_and_refuses_to_start_without_secrets(clean_env):
    with pytest.raises(ConfigError) as refused:
        create_app()
    assert "SECRET_KEY" in str(refused.value) and "DATABASE_URL" in str(refused.value)


def test_production_refuses_a_short_secret_key(clean_env, tmp_path):
    clean_env.setenv("SECRET_KEY", "short")
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    with pytest.raises(ConfigError):
        create_app()


def test_production_refuses_the_console_sms_backend(clean_env, tmp_path):
    clean_env.setenv("SECRET_KEY", "s" * 40)
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    clean_env.setenv("SMS_BACKEND", "console")
    with pytest.raises(ConfigError):
        create_app()


def test_production_has_no_demo_page_and_no_sms_codes_in_the_log(clean_env, tmp_path):
    clean_env.setenv("SECRET_KEY", "s" * 40)
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    app = create_app()
    assert app.config["DEMO_MODE"] is False and app.config["SMS_BACKEND"] == "none"
    assert "demo" not in app.blueprints


def test_development_must_be_asked_for_and_then_has_the_demo(clean_env, tmp_path):
    clean_env.setenv("H5APP_ENV", "development")
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    app = create_app()
    assert app.config["DEMO_MODE"] is True and "demo" in app.blueprints
    assert len(app.config["SECRET_KEY"]) >= 32


def test_flask_demo_refuses_outside_demo_mode(make_app):
    app = make_app(DEMO_MODE=False)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code != 0 and "演示模式" in result.output


def test_sms_sign_in_is_closed_without_a_gateway(make_app):
    app = make_app(SMS_BACKEND="none")
    response = app.test_client().post("/sms", data={"phone": "13800000000"})
    assert response.status_code == 400 and "暂未开通" in response.get_data(as_text=True)


@pytest.mark.parametrize("typed", ["３３０６０２１９８５０１０１００１１", "33060219850101001１"])
def test_full_width_digits_are_read_as_the_same_id_number(typed):
    assert normalize_id_number(typed) == "330602198501010011"
    assert is_valid_id_number(typed)


def test_other_scripts_digits_are_not_an_id_number():
    arabic_indic = "٣٣٠٦٠٢١٩٨٥٠١٠١٠٠١١"
    assert not is_valid_id_number(arabic_indic)


def test_masking_covers_tracebacks(caplog):
    logger = logging.getLogger("test.masking.traceback")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.ERROR, logger="test.masking.traceback"):
        try:
            raise ValueError("INSERT failed for 330602198501010011 / 13800000000")
        except ValueError:
            logger.exception("insert failed")
    text = caplog.text
    assert "330602198501010011" not in text and "13800000000" not in text
    assert "3306**********0011" in text
