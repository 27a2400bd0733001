"""Resident ID numbers (GB 11643-1999) and phone numbers: validation and masking."""
import logging
import re
import unicodedata
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# ASCII digits only: \d would also match full-width or Arabic-Indic digits, letting one ID
# number be written two ways and so belong to two people.
_ID_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")
_PHONE_SHAPE = re.compile(r"^1[3-9][0-9]{9}$")


def _fold(value: str | None) -> str:
    """Full-width characters typed on a Chinese keyboard become their ASCII forms (NFKC)."""
    return unicodedata.normalize("NFKC", value or "")


def normalize_id_number(value: str | None) -> str:
    return _fold(value).strip().replace(" ", "").upper()


def id_check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


# Province-level prefixes of GB/T 2260 (11 北京 … 65 新疆, 71 台湾, 81 香港, 82 澳门, 83 台湾居民居住证,
# 91 港澳居民居住证的旧码不再发放): an ID number outside them was never issued.
_PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42",
    "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83",
})


def province_exists(region_code: str) -> bool:
    """Whether a six-digit region code starts with a province-level code that exists."""
    return region_code[:2] in _PROVINCES


def normalize_name(value: str | None) -> str:
    return _fold(value).strip()


def name_error(value: str | None) -> str | None:
    """None for a plausible real name: letters (汉字, or Latin for foreign names) and the middle
    dot of minority names; no digits, spaces, punctuation or markup."""
    name = normalize_name(value)
    if not name:
        return "请填写姓名"
    if len(name) > 30:
        return "姓名过长"
    if len(name) < 2 or not all(unicodedata.category(c) in ("Lo", "Lu", "Ll") or c in "·•" for c in name):
        return "姓名格式不正确：请填写身份证上的姓名（少数民族姓名中间用“·”）"
    return None


def id_number_error(value: str | None) -> str | None:
    """None when `value` is a valid 18-digit resident ID number, else why not (in Chinese)."""
    number = normalize_id_number(value)
    if not number:
        return "请填写身份证号码"
    if not _ID_SHAPE.match(number):
        return "身份证号码应为18位，最后一位可以是数字或X"
    if number[:2] not in _PROVINCES:
        return "身份证号码的地区码不存在，请核对前6位"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "身份证号码中的出生日期不存在"
    if born.year < 1900 or born > date.today():
        return "身份证号码中的出生日期不合理"
    if id_check_char(number[:17]) != number[17]:
        return "身份证号码校验位不正确，请核对后重新输入"
    return None


def is_valid_id_number(value: str | None) -> bool:
    return id_number_error(value) is None


def normalize_phone(value: str | None) -> str:
    return re.sub(r"[\s-]", "", _fold(value).strip()).removeprefix("+86")


def is_valid_phone(value: str | None) -> bool:
    return bool(_PHONE_SHAPE.match(normalize_phone(value)))


def mask_id_number(value: str | None) -> str:
    """3201********1234: the region prefix and the last four, as the e-SSC shows it."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str:
    """138****0000"""
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str:
    """张*三 / 李*: keep the family name (and a last character of a long name)."""
    if not value:
        return ""
    if len(value) == 1:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_account_number(value: str | None) -> str:
    """6222 **** **** 1234 → 6222****1234: a bank account keeps its first and last four digits."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * (len(value) - 4) + value[-4:] if len(value) > 4 else "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


_ID_IN_TEXT = re.compile(r"(?<!\d)(\d{4})\d{10}(\d{3}[\dXx])(?!\d)")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_ACCOUNT_IN_TEXT = re.compile(r"(?<!\d)(\d{4})(\d{8,24})(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """Mask every ID number and mobile number inside free text (log lines)."""
    text = _ID_IN_TEXT.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
    text = _ACCOUNT_IN_TEXT.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)
    return _PHONE_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(2), text)


class MaskingFilter(logging.Filter):
    """Installed on the app's log handlers so no full ID number or phone reaches a log file —
    neither in the message nor in a traceback (SQL parameters of a failed INSERT, say)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True
