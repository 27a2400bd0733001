"""Pure voucher rules: no session, no request. Each returns a reason in plain Chinese, or None."""
from datetime import datetime, timedelta

from sqlalchemy import and_, or_

from ..models import PRIORITY_GROUPS, Person, in_region, region_covers
from ..models.people import RECORD_REGION_FIELDS
from ..models.vouchers import CREDENTIAL, FACE_VALUE, GENERAL, PROJECT_TYPES
from ..policies import ANY_RECORD_REGION
from ..timeutil import end_of_local_day, local_today, to_local


def chinese_date(value) -> str:
    """A day as the notices write it: 2026年12月7日."""
    return f"{value.year}年{value.month}月{value.day}日"


def claim_window_problem(template, now: datetime) -> str | None:
    today = local_today(now)
    if today < template.claim_starts_on:
        return f"该券自{chinese_date(template.claim_starts_on)}起开放领取"
    if today > template.claim_ends_on:
        return f"该券的领取时间已于{chinese_date(template.claim_ends_on)}结束"
    if template.valid_until is not None and today > template.valid_until:
        return f"该券的使用期限已于{chinese_date(template.valid_until)}截止"
    return None


def required_insurance_months(template) -> int:
    required = template.min_insurance_months or 0
    if template.distribution_mode == GENERAL and template.policy.min_insurance_months_general:
        required = max(required, template.policy.min_insurance_months_general)
    return required


def region_fields(policy) -> list[str]:
    """The record fields that place a person in a general template's region under `policy` (any
    one of them): policy data (Policy.eligibility_region_fields), any region of the record if unset."""
    return list(getattr(policy, "eligibility_region_fields", None) or ANY_RECORD_REGION)


def person_regions(person, policy) -> list[tuple[str, str]]:
    """(field, region code) of the person that the policy reads. A person with a dated record is
    judged by the record alone; one without (listed by a roster before records existed, seeded for
    the demo) by 所在地区, field "region_code"."""
    if person.has_record:
        return [(name, getattr(person, name)) for name in region_fields(policy) if getattr(person, name)]
    return [("region_code", person.region_code)] if person.region_code else []


def region_clause(policy, region_code: str):
    """SQL for the people `person_regions` places inside `region_code` (a population's query)."""
    on_record = [in_region(getattr(Person, name), region_code) for name in region_fields(policy)]
    return or_(and_(Person.record_as_of.is_not(None), or_(*on_record)),
               and_(Person.record_as_of.is_(None), in_region(Person.region_code, region_code)))


def _fields_phrase(fields: list[str]) -> str:
    labels = [RECORD_REGION_FIELDS[f] for f in fields]
    return labels[0] if len(labels) == 1 else "、".join(labels[:-1]) + "或" + labels[-1]


def missing_record_message(fields: list[str]) -> str:
    """What a worker with nothing on file is told: what is missing and what to do, never "未登记" alone."""
    if fields == ["insurance_region_code"]:
        return "人社部门尚未登记您的参保信息，如已参保请联系当地人社部门"
    return f"人社部门尚未登记您的{_fields_phrase(fields)}信息，请联系当地人社部门核实登记"


def region_problem(person, template, names) -> str | None:
    fields = region_fields(template.policy)
    found = person_regions(person, template.policy)
    if not found:
        where = names.get(template.region_code, template.region_code)
        return f"该券限{where}的劳动者领取，{missing_record_message(fields)}"
    if any(region_covers(template.region_code, code) for _field, code in found):
        return None  # the happy path formats no message, so it looks up no region name
    where = names.get(template.region_code, template.region_code)
    if not person.has_record:
        return f"该券限{where}的劳动者领取，您登记的所在地区为{names.get(person.region_code, person.region_code)}"
    mine = "、".join(f"{RECORD_REGION_FIELDS[f]}为{names.get(code, code)}" for f, code in found)
    return f"该券限{_fields_phrase(fields)}在{where}的劳动者领取，人社部门登记的您的{mine}"


def insurance_problem(person, required: int) -> str | None:
    months = person.insurance_months or 0
    if not required or months >= required:
        return None
    dates = person.record_dates or {}
    if months == 0 and not person.insurance_region_code and "insurance_months" not in dates:
        return f"{missing_record_message(['insurance_region_code'])}（该券需在本地缴纳失业保险满{required}个月）"
    if person.has_record:
        return f"需在本地缴纳失业保险满{required}个月，人社部门登记的您目前为{months}个月"
    return f"需在本地缴纳失业保险满{required}个月，您目前为{months}个月"


def groups_problem(person, template) -> str | None:
    groups = template.eligible_groups or []
    if not groups or set(groups) & set(person.groups or []):
        return None
    wanted = "、".join(PRIORITY_GROUPS.get(g, g) for g in groups)
    if not person.groups:
        return f"该券面向{wanted}，人社部门尚未登记您属于这些群体，如属于请联系当地人社部门登记"
    mine = "、".join(person.group_labels)
    if person.has_record:
        return f"该券面向{wanted}，人社部门登记的您的身份为{mine}"
    return f"该券面向{wanted}，您登记的身份为{mine}"


def eligibility_problems(person, template, region_names=None, check_region: bool = True) -> list[str]:
    """Every reason `person` may not hold a voucher of `template`, each saying what would qualify.
    `region_names` is any mapping-like object with .get(code, default). The region and the
    insurance months are read from the person's record, by the fields the template's policy names
    (Shaoxing: where the unemployment insurance is paid; h5app/policies.py)."""
    names = region_names or {}
    problems = []
    if not person.is_real_name:
        problems.append("领券前需完成实名认证（姓名和身份证号）")
    if check_region:
        problems.append(region_problem(person, template, names))
    problems.append(groups_problem(person, template))
    problems.append(insurance_problem(person, required_insurance_months(template)))
    # Nothing on file is said once, not once per rule that reads it: the region's reason already
    # says the insurance is not on record, and gains the months the template asks for.
    unique = []
    for problem in filter(None, problems):
        head = problem.split("（")[0]
        same = next((i for i, seen in enumerate(unique) if seen.endswith(head)), None)
        if same is None:
            unique.append(problem)
        else:
            unique[same] += problem[len(head):]
    return unique


def claim_deadline(template, claimed_at: datetime) -> datetime | None:
    """The use deadline of a voucher claimed at `claimed_at` (naive UTC)."""
    deadlines = []
    if template.valid_until is not None:
        deadlines.append(end_of_local_day(template.valid_until))
    if template.valid_days:
        deadlines.append(end_of_local_day(local_today(claimed_at) + timedelta(days=template.valid_days)))
    if template.policy.activation_days:
        # Shaoxing: activate (verify) within 90 days of claim, or the voucher lapses.
        deadlines.append(end_of_local_day(local_today(claimed_at) + timedelta(days=template.policy.activation_days)))
    return min(deadlines) if deadlines else None


def offer_deadline(template) -> datetime:
    """An offer that nobody claimed lapses when the claim window closes."""
    deadline = end_of_local_day(template.claim_ends_on)
    if template.valid_until is not None:
        deadline = min(deadline, end_of_local_day(template.valid_until))
    return deadline


def applicability_problem(template, training_class, institution, voucher=None) -> str | None:
    """Does a voucher of `template` (`voucher` itself, when there is one) fit this class? Whether
    its kind fits (fit_problem), and where the policy says so whether the class is over by its use
    deadline (deadline_problem)."""
    return fit_problem(template, training_class, institution) or deadline_problem(template, training_class, voucher)


def fit_problem(template, training_class, institution) -> str | None:
    """The template's kind against the class: region of the institution, project type, occupation
    and level when the template sets them."""
    if not region_covers(template.region_code, institution.region_code):
        return "该培训券不能在本地区的培训机构使用"
    if template.project_types and training_class.project_type not in template.project_types:
        allowed = "、".join(PROJECT_TYPES.get(p, p) for p in template.project_types)
        have = PROJECT_TYPES.get(training_class.project_type, training_class.project_type)
        return f"该培训券仅适用于{allowed}，本班期为{have}"
    if template.occupation and template.occupation != training_class.occupation:
        return f"该培训券仅适用于{template.occupation}工种，本班期为{training_class.occupation}"
    if template.level and template.level != training_class.level:
        return f"该培训券仅适用于{template.level}等级，本班期为{training_class.level or '未设等级'}"
    return None


def deadline_problem(template, training_class, voucher=None) -> str | None:
    """Where the policy says the training must be over by the use deadline (Chongqing), a class
    ending later: the voucher's own deadline (a class cancelled under it extended it), else the
    template's."""
    policy = template.policy
    if policy is None or not policy.training_by_valid_until or not training_class.ends_on:
        return None
    use_by = to_local(voucher.expires_at).date() if voucher is not None and voucher.expires_at else template.valid_until
    if use_by and training_class.ends_on > use_by:
        return f"该培训券须在{chinese_date(use_by)}前完成培训，本班期{chinese_date(training_class.ends_on)}才结业"
    return None


def subsidy_amount(template, fee_fen: int | None = None) -> tuple[int, str | None]:
    """(the line's maximum in fen, note): the face value (face-value vouchers) or the catalogue
    standard (credential), capped by the standard where one is set and by the fee the class
    actually charged — a subsidy never exceeds the fee. A class with no fee on record (0) is not
    capped by it."""
    if template.function_mode == FACE_VALUE:
        amount, note = template.face_value_fen or 0, None
        if template.standard_fen is not None and template.standard_fen < amount:
            amount, note = template.standard_fen, "按补贴标准封顶"
    elif template.function_mode == CREDENTIAL:
        if template.standard_fen is None:
            return 0, "抵用券未设置补贴标准"
        amount, note = template.standard_fen, None
    else:
        return 0, "未知的券功能模式"
    if fee_fen and fee_fen < amount:
        amount, note = fee_fen, "按实际培训费封顶"
    return amount, note


def local_year(value: datetime) -> int:
    return to_local(value).year
