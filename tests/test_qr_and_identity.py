"""The dynamic QR token, QR rendering, resident ID validation and masking."""
import logging

import pytest

from h5app.identity import (
    MaskingFilter, id_number_error, is_valid_id_number, mask_id_number, mask_name, mask_phone, mask_text,
)
from h5app.qr import qr_svg
from h5app.vouchers import qrtoken

SECRET = b"k" * 32
CODE = "ABCDEFGH23456789"
T0 = 1_790_000_000.0  # a fixed instant, aligned arbitrarily inside a 30 s step


def test_token_is_short_uppercase_alphanumeric():
    token = qrtoken.sign(SECRET, qrtoken.KIND_VOUCHER, CODE, T0)
    assert len(token) <= 64
    assert token.isalnum() and token == token.upper()


def test_token_round_trips_to_kind_and_code():
    token = qrtoken.sign(SECRET, qrtoken.KIND_VOUCHER, CODE, T0)
    assert qrtoken.verify(SECRET, token, T0) == ("V", CODE)


def test_token_changes_every_30_second_step():
    step_start = (T0 // 30) * 30
    a = qrtoken.sign(SECRET, "V", CODE, step_start)
    b = qrtoken.sign(SECRET, "V", CODE, step_start + 29)
    c = qrtoken.sign(SECRET, "V", CODE, step_start + 30)
    assert a == b != c


@pytest.mark.parametrize("age", [0, 29, 59])
def test_token_accepted_within_60_seconds(age):
    step_start = (T0 // 30) * 30
    token = qrtoken.sign(SECRET, "V", CODE, step_start)
    assert qrtoken.verify(SECRET, token, step_start + age)[1] == CODE


@pytest.mark.parametrize("age", [60, 61, 3600])
def test_token_older_than_60_seconds_is_expired(age):
    step_start = (T0 // 30) * 30
    token = qrtoken.sign(SECRET, "V", CODE, step_start)
    with pytest.raises(qrtoken.QrExpired):
        qrtoken.verify(SECRET, token, step_start + age)


def test_token_from_the_future_is_invalid():
    token = qrtoken.sign(SECRET, "V", CODE, T0 + 120)
    with pytest.raises(qrtoken.QrInvalid):
        qrtoken.verify(SECRET, token, T0)


def test_token_signed_with_another_secret_is_invalid():
    token = qrtoken.sign(b"x" * 32, "V", CODE, T0)
    with pytest.raises(qrtoken.QrInvalid):
        qrtoken.verify(SECRET, token, T0)


def test_token_with_a_changed_code_is_invalid():
    token = qrtoken.sign(SECRET, "V", CODE, T0)
    forged = token[0] + "Z" + token[2:]
    with pytest.raises(qrtoken.QrInvalid):
        qrtoken.verify(SECRET, forged, T0)


@pytest.mark.parametrize("garbage", ["", "hello", "V" * 200, "V" + CODE, "\x00\xff", "v" + "a" * 39])
def test_garbage_is_invalid_not_a_crash(garbage):
    with pytest.raises(qrtoken.QrInvalid):
        qrtoken.verify(SECRET, garbage, T0)


def test_lowercase_scan_of_a_genuine_token_is_accepted():
    token = qrtoken.sign(SECRET, "V", CODE, T0)
    assert qrtoken.verify(SECRET, token.lower(), T0)[1] == CODE


def test_qr_svg_is_inline_svg_of_a_normal_qr():
    svg = qr_svg(qrtoken.sign(SECRET, "V", CODE, T0))
    assert svg.startswith("<svg") and "<?xml" not in svg
    assert 'role="img"' in svg


def test_qr_is_never_micro_even_for_short_data():
    import segno

    # segno would pick a Micro QR for this much data if allowed; the app must not.
    assert segno.make("12345").is_micro
    assert "<svg" in qr_svg("12345")
    assert not segno.make("12345", micro=False).is_micro


@pytest.mark.parametrize("number", ["11010519491231002X", "330602198501010011", "500101199003151236"])
def test_valid_id_numbers_pass(number):
    assert is_valid_id_number(number), id_number_error(number)


@pytest.mark.parametrize("number,fragment", [
    ("11010519491231002Y", "18位"),
    ("110105194912310021", "校验位"),
    ("1101051949123100", "18位"),
    ("110105194902300021", "出生日期"),
    ("", "请填写"),
])
def test_invalid_id_numbers_are_refused_with_a_reason(number, fragment):
    assert fragment in id_number_error(number)


def test_masks():
    assert mask_id_number("330602198501010011") == "3306**********0011"
    assert mask_phone("13800000000") == "138****0000"
    assert mask_name("王建国") == "王*国"
    assert mask_name("李四") == "李*"


def test_log_filter_masks_ids_and_phones(caplog):
    logger = logging.getLogger("test.masking")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="test.masking"):
        logger.info("person %s phone %s", "330602198501010018", "13800000000")
    assert "330602198501010018" not in caplog.text and "13800000000" not in caplog.text
    assert "3306**********0018" in caplog.text and "138****0000" in caplog.text


def test_mask_text_leaves_other_numbers():
    assert mask_text("order 12345 total 99") == "order 12345 total 99"
