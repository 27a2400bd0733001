"""Onboarding training institutions (批量添加培训机构, seed 004 annex 2): validated row by row, all or
nothing; each institution gets its officer (机构专员) account with a first password shown once, and
its payee account (收款账户) when one is given, in force at once as the bureau entered it."""
import re
from dataclasses import dataclass

from sqlalchemy import func, select

from .auth.forms import generate_password
from .identity import id_number_error, name_error, normalize_id_number, normalize_name
from .models import Institution, PayeeAccount, Region, Site, StaffUser
from .models.institutions import INSTITUTION_TYPES
from .models.staff import OFFICER
from .spreadsheets import numbers
from .vouchers import audit, payees
from .vouchers.errors import ValidationFailed
from .vouchers.transactions import service

TYPE_BY_LABEL = {label: code for code, label in INSTITUTION_TYPES.items()}
COORDS = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*[,，]\s*(-?\d+(?:\.\d+)?)\s*$")
PAYEE_FIELDS = ("account_name", "bank_name", "account_number")
# Excel shows a long number typed into a number cell as 6.22202E+18, its last digits already lost.
SCIENTIFIC = re.compile(r"^\d+(\.\d+)?[eE]\+?\d+$")


@dataclass
class Onboarded:
    institution: Institution
    officer: StaffUser
    password: str
    payee: PayeeAccount | None = None


def _sites(text: str) -> list[tuple[float, float]] | None:
    """'30.0023,120.5810;30.1,120.4' → [(lat, lng), …]; None when malformed."""
    points = []
    for part in re.split(r"[;；\n]", text or ""):
        if not part.strip():
            continue
        match = COORDS.match(part)
        if not match:
            return None
        lat, lng = float(match.group(1)), float(match.group(2))
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            return None
        points.append((lat, lng))
    return points


def _payee(row: dict) -> tuple[dict | None, dict]:
    """The row's 户名/开户行/账号 (flat columns, or the API's "payee" object): all three or none.
    Returns (clean values or None, field → problem)."""
    values = row.get("payee") if isinstance(row.get("payee"), dict) else row
    values = {field: str(values.get(field) or "").strip() for field in PAYEE_FIELDS}
    if not any(values.values()):
        return None, {}
    if SCIENTIFIC.match(values["account_number"]):
        return None, {"account_number": "账号被Excel存成了数字（科学计数法），请把该列设为文本格式后重新填写"}
    try:
        return payees.clean_account(values), {}
    except ValidationFailed as refusal:
        return None, refusal.details["fields"]


def validate(session, rows: list[dict], actor: audit.Actor) -> tuple[list[dict], list[dict]]:
    regions = set(session.scalars(select(Region.code)))
    # Codes are told apart regardless of case, as the officers' usernames made of them are.
    taken = {code.upper() for code in session.scalars(select(Institution.code))}
    usernames = set(session.scalars(select(func.lower(StaffUser.username)).where(
        func.lower(StaffUser.username).startswith("officer_", autoescape=True))))
    clean, errors, seen = [], [], {}
    for index, row in zip(numbers(rows), rows, strict=True):
        def bad(field, message):
            errors.append({"index": index, "field": field, "message": message})

        code = (row.get("code") or "").strip()
        name = (row.get("name") or "").strip()
        region = (row.get("region_code") or "").strip()
        kind = (row.get("type") or "").strip()
        if not re.fullmatch(r"[0-9A-Za-z]{4,20}", code):
            bad("code", "机构编码应为4到20位字母或数字（重庆为7位编码）")
        elif code.upper() in taken:
            bad("code", "该机构编码已存在（不区分大小写）")
        elif code.upper() in seen:
            bad("code", f"机构编码与第{seen[code.upper()]}行重复（不区分大小写）")
        elif f"officer_{code}".lower() in usernames:
            bad("code", f"该机构编码对应的专员账号 officer_{code} 已被使用")
        else:
            seen[code.upper()] = index
        if not name or len(name) > 120:
            bad("name", "请填写机构全称")
        if region not in regions:
            bad("region_code", "行政区划编码不存在")
        elif not actor.in_region(region):
            bad("region_code", "只能添加本地区的培训机构")
        kind_code = TYPE_BY_LABEL.get(kind, kind if kind in INSTITUTION_TYPES else ("other" if not kind else None))
        if kind_code is None:
            bad("type", "机构类型应为：" + "、".join(INSTITUTION_TYPES.values()))
        if not (row.get("address") or "").strip():
            bad("address", "请填写机构地址")
        if not re.fullmatch(r"[0-9\-+ ]{7,20}", (row.get("phone") or "").strip()):
            bad("phone", "请填写手机或座机号码")
        officer_name = normalize_name(row.get("officer_name"))
        problem = name_error(officer_name)
        if problem:
            bad("officer_name", "机构专员" + problem)
        problem = id_number_error(row.get("officer_id_number"))
        if problem:
            bad("officer_id_number", "机构专员" + problem)
        sites = _sites(row.get("sites") or "")
        if not sites:
            bad("sites", "请填写培训地点经纬度，如 30.0023,120.5810；多个地点用分号隔开")
        payee, problems = _payee(row)
        for field, message in problems.items():
            bad(field, message)
        clean.append({"code": code, "name": name, "region_code": region, "type": kind_code or "other",
                      "address": (row.get("address") or "").strip(), "phone": (row.get("phone") or "").strip(),
                      "officer_name": officer_name, "officer_id_number": normalize_id_number(row.get("officer_id_number")),
                      "sites": sites or [], "payee": payee})
    return clean, errors


@service
def onboard(session, rows: list[dict], actor: audit.Actor) -> list[Onboarded]:
    if not rows:
        raise ValidationFailed("没有要添加的机构")
    clean, errors = validate(session, rows, actor)
    if errors:
        raise ValidationFailed(f"有{len(errors)}处错误，未添加任何机构", rows=errors)
    made = []
    for row in clean:
        institution = Institution(code=row["code"], name=row["name"], region_code=row["region_code"],
                                  type=row["type"], address=row["address"], phone=row["phone"])
        for n, (lat, lng) in enumerate(row["sites"], start=1):
            institution.sites.append(Site(name="培训地点" + (str(n) if len(row["sites"]) > 1 else ""),
                                          address=row["address"], lat=lat, lng=lng, radius_m=300))
        session.add(institution)
        session.flush()
        password = generate_password()
        officer = StaffUser(username=f"officer_{row['code']}", name=row["officer_name"], role=OFFICER,
                            institution_id=institution.id, must_change_password=True)
        officer.set_password(password)
        session.add(officer)
        account = payees.set_institution_account(session, institution, row["payee"], actor) if row["payee"] else None
        made.append(Onboarded(institution, officer, password, account))
        audit.record(session, actor, "institution.onboard", institution_id=institution.id,
                     region_code=row["region_code"], details={"code": row["code"]})
    session.commit()
    return made
