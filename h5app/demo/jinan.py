"""The demo's second city (PRODUCT.md §10, issue 19): 济南市 under the Shandong policy, where a class
opens only after the bureau's 开班审核 (seed 002 §三(三)). Its own clerk (jinan_clerk), a school with
its officer and verifier (jinan_officer, jinan_verifier), a directed template for the city, and a
class submitted with its teaching plan, teachers and roster, waiting in the clerk's 开班审核 queue."""
from datetime import time, timedelta

from ..models import Institution, Person, Region, Site, StaffUser, VoucherTemplate
from ..models.people import VIA_ROSTER
from ..models.staff import BUREAU, OFFICER, VERIFIER
from ..models.vouchers import CREDENTIAL, DIRECTED, TEMPLATE_ACTIVE
from ..policies import SHANDONG
from ..timeutil import local_at
from ..vouchers import audit, classes, payees, roster

REGION = ("370100", "济南市")
DISTRICTS = [("370102", "历下区"), ("370103", "市中区"), ("370112", "历城区")]
SCHOOL = dict(code="3701001", name="济南市历下区鲁班职业培训学校", region_code="370102", type="private_school",
              address="历下区泉城路 88 号", phone="0531-86000001")
TRAINEES = [("孔秀兰", "19860412"), ("孟庆华", "19791103")]
PLAN = ("一、理论（12课时）：焊接安全、识图、焊接材料与设备。\n"
        "二、实操（20课时）：平焊、立焊、横焊，每人每次课不少于2小时上机。\n"
        "三、考核：结业后由济南市职业技能鉴定指导中心组织焊工（四级）等级认定。")
TEACHERS = [{"name": "鲁明", "certificate_number": "3701002019000123"},
            {"name": "孔芳", "certificate_number": "3701002020000456"}]


def seed_jinan(session, policies: dict, today, password: str, id_number) -> None:
    """`id_number(region, born, seq, sex_odd)`: the demo's checksum-valid fictitious ID numbers."""
    policy = policies[SHANDONG]
    session.add(Region(code=REGION[0], name=REGION[1], policy_id=policy.id))
    for code, name in DISTRICTS:
        session.add(Region(code=code, name=name, parent_code=REGION[0], policy_id=policy.id))
    school = Institution(**SCHOOL)
    school.sites.append(Site(name="泉城路校区", address=SCHOOL["address"], lat=36.6683, lng=117.0204, radius_m=300))
    session.add(school)
    session.flush()
    payees.set_institution_account(session, school, {
        "account_name": school.name, "bank_name": "中国工商银行济南泉城路支行",
        "account_number": "16020001092000000017"}, audit.Actor.system("演示数据"))
    staff = [StaffUser(username="jinan_clerk", name="孔经办", role=BUREAU, region_code=REGION[0]),
             StaffUser(username="jinan_officer", name="鲁班专员", role=OFFICER, institution_id=school.id),
             StaffUser(username="jinan_verifier", name="鲁班前台", role=VERIFIER, institution_id=school.id)]
    for user in staff:
        user.set_password(password)
    session.add_all(staff)
    session.add(VoucherTemplate(
        name="2026年济南市职业技能提升定向培训券", voucher_type="职业技能提升培训券", region_code=REGION[0],
        function_mode=CREDENTIAL, distribution_mode=DIRECTED, standard_fen=150000, stock=200,
        project_types=["employment_skills"], valid_days=120, policy_id=policy.id, status=TEMPLATE_ACTIVE,
        claim_starts_on=today - timedelta(days=30), claim_ends_on=today + timedelta(days=90)))
    session.commit()

    officer = audit.Actor.for_staff(staff[1])
    start = today + timedelta(days=10)
    lessons = [(local_at(start + timedelta(days=n), time(8, 30)), local_at(start + timedelta(days=n), time(16, 30)), 8)
               for n in range(4)]
    welding = classes.create_class(session, school, {
        "course_name": "焊工（四级）培训", "occupation": "焊工", "level": "四级", "project_type": "employment_skills",
        "price_fen": 260000, "capacity": 30, "starts_on": start, "ends_on": start + timedelta(days=5),
        "description": "面向历下区失业人员和农村转移就业劳动者的焊工技能提升班，共4天32课时。", "teaching_plan": PLAN,
    }, lessons, officer, teachers=TEACHERS)
    people = [Person(name=name, id_number=id_number("370102", born, 300 + n, n % 2 == 0), verified_via=VIA_ROSTER,
                     region_code="370102") for n, (name, born) in enumerate(TRAINEES)]
    roster.add_trainees(session, welding, [{"name": p.name, "id_number": p.id_number, "phone": ""} for p in people],
                        officer)
