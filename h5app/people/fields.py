"""The fields of a person's record as a file or the API brings them: the import's column headers,
defined once (the import, its template and its result file read them from here), and the check of
one incoming record, which says for each bad field what is wrong in words a clerk can act on."""
import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import select

from ..identity import (
    id_number_error,
    is_valid_phone,
    name_error,
    normalize_id_number,
    normalize_name,
    normalize_phone,
    province_exists,
)
from ..ids import ascii_digits
from ..models import PRIORITY_GROUPS, Region, region_prefix
from ..models.people import RECORD_FIELDS, RECORD_REGION_FIELDS
from .records import FIELD_LABELS, Incoming

# field → (the header the template writes, other headers the systems' exports use)
COLUMNS = {
    "id_number": ("身份证号", "公民身份号码", "身份证号码", "证件号码", "id_number"),
    "name": ("姓名", "name"),
    "phone": ("手机号", "手机号码", "联系电话", "phone"),
    "hukou_region_code": ("户籍地", "户籍地区划代码", "户籍所在地", "hukou_region_code"),
    "residence_region_code": ("常住地", "居住地", "常住地区划代码", "residence_region_code"),
    "employment_region_code": ("就业地", "就业地区划代码", "employment_region_code"),
    "insurance_region_code": ("参保地", "失业保险参保地", "参保地区划代码", "insurance_region_code"),
    "insurance_months": ("参保月数", "失业保险缴费月数", "累计缴费月数", "insurance_months"),
    "unemployment_registered_region_code": ("失业登记地", "失业登记地区划代码", "unemployment_registered_region_code"),
    "groups": ("重点群体", "人员类别", "groups"),
    "as_of": ("信息日期", "数据日期", "as_of"),
}
REQUIRED = ("id_number", "name", "as_of")
LABELS = {name: headers[0] for name, headers in COLUMNS.items()}

# What each column holds, with the template's example row.
HINTS = {
    "id_number": ("18位居民身份证号（末位可为X）；Excel 中请把该列设为文本", "330602198501010011"),
    "name": ("与身份证上的姓名一致", "王建国"),
    "phone": ("选填，11位手机号；已被他人使用的号码不登记", "13900000000"),
    "hukou_region_code": ("6位行政区划代码，或本地区的区县名称", "330602"),
    "residence_region_code": ("同上", "330602"),
    "employment_region_code": ("同上", "330602"),
    "insurance_region_code": ("失业保险参保地，同上", "330602"),
    "insurance_months": ("在参保地累计缴纳失业保险的月数，0–600的整数", "40"),
    "unemployment_registered_region_code": ("办理失业登记的地区，同上", ""),
    "groups": ("选填，可填多个，用顿号分隔：" + "、".join(PRIORITY_GROUPS.values()), "失业人员"),
    "as_of": ("这些信息所属的日期（如 2026-12-01），不能晚于今天；旧日期的信息不会覆盖新的", "2026-12-01"),
}

_GROUP_CODES = {**{label: code for code, label in PRIORITY_GROUPS.items()}, **{code: code for code in PRIORITY_GROUPS}}
_GROUP_SPLIT = re.compile(r"[、,，;；/\s|]+")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_REGION_CODE = re.compile(r"^[0-9]{6}$")


def _header_key(text) -> str:
    return unicodedata.normalize("NFKC", str(text or "")).replace("\ufeff", "").replace(" ", "").strip().lower()


_HEADER_INDEX = {_header_key(header): name for name, headers in COLUMNS.items() for header in headers}


def header_positions(cells) -> tuple[dict, list[str]]:
    """(field → column index, the required headers missing) for a file's first row."""
    positions = {}
    for index, cell in enumerate(cells):
        name = _HEADER_INDEX.get(_header_key(cell))
        if name is not None and name not in positions:
            positions[name] = index
    return positions, [LABELS[name] for name in REQUIRED if name not in positions]


def row_values(cells, positions: dict) -> dict:
    return {name: (cells[index] if index < len(cells) else None) for name, index in positions.items()}


class RegionBook:
    """The region codes a record may name: one the regions table holds, or any well-formed code
    outside every region it holds (a migrant's hukou in another province) — but not a code inside
    a region we hold that is no region of ours (330699 in 绍兴市). The name of a region we hold
    stands for its code (a system may export 越城区 instead of 330602)."""

    def __init__(self, names: dict[str, str]):
        self._seen = {}  # a file names a handful of regions 200,000 times: each is checked once
        self.names = dict(names)
        self._prefixes = {region_prefix(code) for code in self.names}
        by_name = {}
        for code, name in self.names.items():
            by_name.setdefault(name, []).append(code)
        self._by_name = {name: codes[0] for name, codes in by_name.items() if len(codes) == 1}

    @classmethod
    def load(cls, session) -> "RegionBook":
        return cls(dict(session.execute(select(Region.code, Region.name)).all()))

    def _managed(self, code: str) -> bool:
        return any(code[:n] in self._prefixes for n in (2, 4, 6))

    def clean(self, value) -> tuple[str | None, str | None]:
        key = (type(value), value)
        if key not in self._seen:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[key] = self._clean(value)
        return self._seen[key]

    def _clean(self, value) -> tuple[str | None, str | None]:
        text = _text(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = str(int(value)) if float(value).is_integer() else text
        if _REGION_CODE.match(text):
            if text in self.names:
                return text, None
            if not province_exists(text):
                return None, f"地区代码{text}不存在"
            if self._managed(text):
                return None, f"地区代码{text}不在本系统的行政区划中，请核对"
            return text, None
        if text in self._by_name:
            return self._by_name[text], None
        return None, "应为6位行政区划代码（如 330602）或本地区的区县名称"


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value) -> str:
    if isinstance(value, str):
        return value.strip() if value.isascii() else unicodedata.normalize("NFKC", value).strip()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def clean_months(value) -> tuple[int | None, str | None]:
    problem = "参保月数应为0至600之间的整数"
    if isinstance(value, bool):
        return None, problem
    if isinstance(value, float):
        value = int(value) if value.is_integer() else None
    elif isinstance(value, str):
        text = _text(value)
        value = int(text) if ascii_digits(text) and len(text) <= 4 else None
    if not isinstance(value, int) or not 0 <= value <= 600:
        return None, problem
    return value, None


def clean_groups(value) -> tuple[list | None, str | None]:
    if isinstance(value, str):
        codes, problem = _groups_of_text(value)
        return (list(codes) if codes is not None else None), problem
    return _clean_groups(value)


@lru_cache(maxsize=1024)
def _groups_of_text(value: str) -> tuple[tuple | None, str | None]:
    codes, problem = _clean_groups(_GROUP_SPLIT.split(_text(value)))
    return (tuple(codes) if codes is not None else None), problem


def _clean_groups(items) -> tuple[list | None, str | None]:
    codes, unknown = set(), []
    for item in items:
        text = _text(item)
        if not text:
            continue
        code = _GROUP_CODES.get(text)
        (codes.add(code) if code else unknown.append(text[:20]))
    if unknown:
        return None, f"重点群体“{'、'.join(unknown)}”不在可选范围内（可填：{'、'.join(PRIORITY_GROUPS.values())}）"
    return [code for code in PRIORITY_GROUPS if code in codes], None  # one order: re-imports compare equal


def clean_date(value, today: date) -> tuple[date | None, str | None]:
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        day, problem = _date_of_text(value if isinstance(value, str) else _text(value))
        if problem:
            return None, problem
    if day > today:
        return None, "信息日期不能晚于今天"
    if day.year < 1990:
        return None, "信息日期不合理（早于1990年）"
    return day, None


@lru_cache(maxsize=1024)
def _date_of_text(value: str) -> tuple[date | None, str | None]:
    """A file repeats its one or two dates on every row: each is parsed once."""
    text = _text(value)
    if ascii_digits(text) and len(text) == 8:
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    match = _DATE.match(text)
    try:
        day = date(*map(int, match.groups())) if match else None
    except ValueError:
        day = None
    return (day, None) if day else (None, "信息日期应为日期，如 2026-12-01")


def clean_id_number(value) -> tuple[str | None, str | None]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Excel keeps 15 significant digits of a number: an ID number typed as one has lost its end.
        return None, "身份证号被存成了数字，后几位已丢失：请把该列设为文本格式后重新填写"
    number = normalize_id_number(str(value))
    problem = id_number_error(number)
    return (None, problem) if problem else (number, None)


def clean_record(raw: dict, regions: RegionBook, today: date, ref: int | None = None) -> tuple[Incoming | None, dict]:
    """One record from a file row or an API item (values as text, numbers, dates or a list) →
    (the Incoming to merge, or None; field → what is wrong). Blank values are "not given"."""
    errors = {}
    for name in REQUIRED:
        if _blank(raw.get(name)):
            errors[name] = f"请填写{LABELS[name]}"
    id_number = name = as_of = phone = None
    if "id_number" not in errors:
        id_number, errors["id_number"] = clean_id_number(raw["id_number"])
    if "name" not in errors:
        name = normalize_name(_text(raw["name"]))
        errors["name"] = name_error(name)
    if "as_of" not in errors:
        as_of, errors["as_of"] = clean_date(raw["as_of"], today)
    if not _blank(raw.get("phone")):
        phone = normalize_phone(_text(raw["phone"]))
        if not is_valid_phone(phone):
            phone, errors["phone"] = None, "手机号应为11位手机号码"
    fields = {}
    for field_name in RECORD_FIELDS:
        value = raw.get(field_name)
        if _blank(value):
            continue
        if field_name in RECORD_REGION_FIELDS:
            fields[field_name], problem = regions.clean(value)
        elif field_name == "insurance_months":
            fields[field_name], problem = clean_months(value)
        else:
            fields[field_name], problem = clean_groups(value)
        if problem:
            errors[field_name] = problem
    errors = {key: message for key, message in errors.items() if message}
    if not fields and not errors:
        errors["record"] = "未填写任何人员信息：" + "、".join(FIELD_LABELS.values()) + "至少填一项"
    if errors:
        return None, errors
    return Incoming(id_number=id_number, name=name, as_of=as_of, fields=fields, phone=phone, ref=ref), {}


def describe(errors: dict) -> str:
    """Field → message as one line: 参保月数：应为……；信息日期：……"""
    parts = []
    for name, message in errors.items():
        label = LABELS.get(name)
        parts.append(f"{label}：{message}" if label and not message.startswith(("请填写", label)) else message)
    return "；".join(parts)
