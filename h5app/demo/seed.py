"""`flask demo`: a realistic Shaoxing (绍兴市) — districts, its policy, three institutions with
sites, classes with sessions over the coming weeks, templates of all four mode combinations,
workers in several priority groups, staff of every role, and a past season (history.py). Beside it
济南市 under the Shandong policy, with a class waiting for 开班审核 (jinan.py)."""
import secrets
from datetime import time, timedelta

from sqlalchemy import select

from ..identity import id_check_char, mask_id_number
from ..models import (
    Certificate, Channel, ClassSession, Institution, Job, KpiTarget, Person, Region, RegionTarget, Site, StaffUser,
    TrainingClass, Voucher, VoucherTemplate,
)
from ..models.classes import CLASS_OPEN
from ..models.people import via_sso
from ..models.staff import BUREAU, OFFICER, VERIFIER
from ..models.vouchers import CREDENTIAL, DIRECTED, FACE_VALUE, GENERAL, TEMPLATE_ACTIVE
from ..people import records as people_records
from ..people.fields import clean_groups
from ..policies import SHAOXING, ensure_policies
from ..statistics.rollup import roll_up
from ..timeutil import local_at, local_today
from ..vouchers import audit, claim, enrolment, issuance, payees, roster
from .attendance import seed_correction, seed_online_class
from .finished import seed_finished_class
from .history import make_history, verifier_actors
from .jinan import seed_jinan

DEMO_PASSWORD = "Demo-2026-pass"  # demo accounts only; printed by `flask demo`
REGION = ("330600", "绍兴市")
PROVINCE = ("330000", "浙江省")
DISTRICTS = [("330602", "越城区"), ("330603", "柯桥区"), ("330604", "上虞区"), ("330681", "诸暨市")]


def demo_id_number(region: str, born: str, seq: int, sex_odd: bool = True) -> str:
    """A checksum-valid (fictitious) resident ID number."""
    serial = seq * 2 + (1 if sex_odd else 0)
    first17 = f"{region}{born}{serial:03d}"
    return first17 + id_check_char(first17)


JOBS = [
    # title, employer, district, occupation, monthly salary range (yuan)
    ("配电运维电工", "越城供电服务有限公司", "330602", "电工", 6000, 8500),
    ("物业水电维修工", "柯桥物业管理有限公司", "330603", "电工", 5000, 6500),
    ("育婴师", "上虞家政服务中心", "330604", "育婴员", 5500, 8000),
    ("中餐厨师", "诸暨大酒店", "330681", "中式烹调师", 6000, 9000),
    ("电商运营专员", "柯桥纺织电商园", "330603", "电子商务师", 5000, 7000),
]

WORKERS = [
    # name, district, born, groups, insurance months, phone
    ("王建国", "330602", "19750312", ["unemployed"], 48, "13805750001"),
    ("李秀英", "330603", "19800521", ["unemployed", "low_income"], 20, "13805750002"),
    ("张伟", "330602", "20010907", ["graduate"], 0, "13805750003"),
    ("陈小燕", "330604", "19921118", ["rural_migrant"], 37, "13805750004"),
    ("刘强", "330681", "19880203", ["enterprise_employee"], 60, "13805750005"),
    ("赵敏", "330602", "19950630", ["veteran"], 40, "13805750006"),
    ("孙丽", "330603", "19830415", ["poverty_alleviated"], 12, "13805750007"),
    ("周杰", "330602", "19990101", ["graduate", "disabled"], 6, "13805750008"),
]

INSTITUTIONS = [
    # code, name, district, type, address, phone, sites (name, lat, lng, radius)
    ("3306001", "绍兴市技师学院", "330602", "technical_school", "越城区中兴中路 100 号", "0575-88000001",
     [("本部实训楼", 30.0023, 120.5810, 300)]),
    ("3306002", "柯桥区新星职业培训学校", "330603", "private_school", "柯桥区笛扬路 18 号", "0575-88000002",
     [("笛扬路校区", 30.0850, 120.4920, 250), ("钱清教学点", 30.1012, 120.3921, 200)]),
    ("3306003", "上虞区家政服务培训中心", "330604", "industry", "上虞区市民大道 66 号", "0575-88000003",
     [("市民大道教学点", 30.0330, 120.8680, 300)]),
]


def seed_demo(session) -> list[str]:
    if session.scalar(select(Region.id).where(Region.code == REGION[0])):
        return ["演示数据已存在，未重复生成。"] + sign_in_help(session)
    policies = ensure_policies(session)
    policy = policies[SHAOXING]
    # The province above the city: its supervisor keeps the policies its regions follow (地区政策).
    session.add(Region(code=PROVINCE[0], name=PROVINCE[1]))
    session.add(Region(code=REGION[0], name=REGION[1], policy_id=policy.id))
    for code, name in DISTRICTS:
        session.add(Region(code=code, name=name, parent_code=REGION[0], policy_id=policy.id))

    channel = Channel(code="zhrs", name="智慧人社", secret=secrets.token_urlsafe(32))
    session.add_all([channel, Channel(code="wechat", name="微信公众号", secret=secrets.token_urlsafe(32))])

    people = []
    for index, (name, district, born, groups, months, phone) in enumerate(WORKERS, start=1):
        person = Person(name=name, id_number=demo_id_number(district, born, index, index % 2 == 1), phone=phone,
                        groups=groups, region_code=district, insurance_months=months,
                        verified_via=via_sso("zhrs"), channel_code="zhrs")
        session.add(person)
        people.append(person)

    institutions = []
    for code, name, district, kind, address, phone, sites in INSTITUTIONS:
        institution = Institution(code=code, name=name, region_code=district, type=kind, address=address, phone=phone)
        for site_name, lat, lng, radius in sites:
            institution.sites.append(Site(name=site_name, address=address, lat=lat, lng=lng, radius_m=radius))
        session.add(institution)
        institutions.append(institution)
    session.flush()
    # What the social-insurance system holds of each worker (人员信息, issue 18), a week old: the
    # bureau's 人员信息 shows it, and a channel's sign-in today finds it current.
    for person in people:
        fields = {"residence_region_code": person.region_code, "insurance_region_code": person.region_code,
                  "insurance_months": person.insurance_months, "groups": clean_groups(person.groups)[0]}
        people_records.apply_to_person(session, person, people_records.Incoming(
            person.id_number, person.name, local_today() - timedelta(days=7), fields), source="demo", origin="演示数据")
    # Each institution's payee account (fictitious numbers), entered by the bureau at onboarding.
    onboarding = audit.Actor.system("演示数据")
    for number, institution in enumerate(institutions, start=1):
        payees.set_institution_account(session, institution, {
            "account_name": institution.name, "bank_name": "中国工商银行绍兴分行营业部",
            "account_number": f"12110201092000{number:05d}"}, onboarding)
    # Deadlines the notices leave to each bureau: apply within 30 days of 结业, review within 20.
    policy.apply_within_days, policy.review_within_days = 30, 20

    staff = [StaffUser(username="bureau_admin", name="陈主任", role=BUREAU, region_code=REGION[0], is_supervisor=True),
             StaffUser(username="bureau_clerk", name="何经办", role=BUREAU, region_code=REGION[0]),
             StaffUser(username="bureau_cashier", name="钱出纳", role=BUREAU, region_code=REGION[0])]
    for number, institution in enumerate(institutions, start=1):
        staff.append(StaffUser(username=f"officer{number}", name=f"{institution.name[:2]}专员", role=OFFICER,
                               institution_id=institution.id))
        staff.append(StaffUser(username=f"verifier{number}", name=f"{institution.name[:2]}前台", role=VERIFIER,
                               institution_id=institution.id))
    staff.append(StaffUser(username="zhejiang_admin", name="林处长", role=BUREAU, region_code=PROVINCE[0],
                           is_supervisor=True))
    for user in staff:
        user.set_password(DEMO_PASSWORD)
    session.add_all(staff)

    today = local_today()
    classes = _make_classes(session, institutions, today)
    templates = _make_templates(session, policy, today)
    session.commit()

    bureau = audit.Actor.for_staff(staff[0])
    # General offer to the unemployed and graduates; one worker claims it straight away.
    issuance.issue_general(session, templates["general_credential"], bureau)
    claim.claim(session, people[0], templates["general_face"])
    # The directed roster of the household-service class, then directed vouchers for it.
    officer = audit.Actor.for_staff(staff[7])
    housekeeping = classes[2]
    roster.add_trainees(session, housekeeping, [
        {"name": p.name, "id_number": p.id_number, "phone": p.phone} for p in (people[3], people[6])
    ], officer)
    issuance.issue_directed(session, templates["directed_face"], housekeeping, bureau)
    # 王建国 enrols in the electrician class with the voucher he claimed, and holds a certificate;
    # jobs to search and to be recommended.
    voucher = session.scalar(select(Voucher).where(Voucher.person_id == people[0].id,
                                                   Voucher.template_id == templates["general_face"].id))
    enrolment.enrol(session, people[0], classes[0], voucher_code=voucher.code)
    session.add(Certificate(person_id=people[0].id, number="330600202500123", name="电工职业技能等级证书",
                            occupation="电工", level="五级", issued_on=today - timedelta(days=200),
                            issuer="绍兴市职业技能鉴定指导中心"))
    # 线上培训 and 补签 (issue 19): an online class open for enrolment; a correction waiting for the bureau.
    seed_online_class(session, institutions[1], today)
    seed_correction(session, housekeeping, people[3], staff[7])
    # A class finished last week, ready for 结算申请 (officer1 → bureau_clerk → bureau_cashier).
    seed_finished_class(session, institutions[0], templates["general_face"], audit.Actor.for_staff(staff[4]), today,
                        demo_id_number)
    _make_targets(session, today.year)
    make_history(session, policy, REGION[0], [code for code, _ in DISTRICTS], institutions, verifier_actors(staff),
                 today, demo_id_number, first_seq=100)
    for title, employer, district, occupation, low, high in JOBS:
        session.add(Job(title=title, employer=employer, region_code=district, occupation=occupation,
                        salary_min_fen=low * 100, salary_max_fen=high * 100, posted_on=today - timedelta(days=3),
                        description=f"{employer}招聘{title}，持相关职业技能等级证书者优先。"))
    session.commit()
    seed_jinan(session, policies, today, DEMO_PASSWORD, demo_id_number)  # 济南市: 开班审核 on (issue 19)
    roll_up(session)  # the finished days of the past season, for 查询统计
    return ["演示数据已生成。"] + sign_in_help(session)


def _make_classes(session, institutions, today):
    specs = [
        (institutions[0], "低压电工作业培训", "电工", "四级", "employment_skills", 120000, 0, 6),
        (institutions[0], "电子商务师（证书班）", "电子商务师", "四级", "certificate", 150000, 7, 5),
        (institutions[2], "育婴员培训", "育婴员", "五级", "domestic_service", 90000, -4, 8),
        (institutions[1], "中式烹调师培训", "中式烹调师", "四级", "employment_skills", 110000, 14, 6),
        (institutions[1], "创业能力提升班", "创业培训", None, "entrepreneurship", 80000, 3, 4),
    ]
    classes = []
    for institution, course, occupation, level, project, price, offset, sessions in specs:
        start = today + timedelta(days=offset)
        training_class = TrainingClass(
            institution_id=institution.id, course_name=course, occupation=occupation, level=level,
            project_type=project, price_fen=price, hours=sessions * 4, capacity=40, starts_on=start,
            ends_on=start + timedelta(days=(sessions - 1) * 2), status=CLASS_OPEN,
            description=f"{institution.name}开设的{course}，共{sessions}次课，每次4课时。",
        )
        training_class.sites = list(institution.sites)
        for n in range(sessions):
            day = start + timedelta(days=n * 2)  # the running class (offset -4) has a session today
            training_class.sessions.append(ClassSession(
                title=f"第{n + 1}次课", starts_at=local_at(day, time(8, 30)), ends_at=local_at(day, time(17, 30)),
                hours=4,
                site_id=institution.sites[n % len(institution.sites)].id,
            ))
        session.add(training_class)
        classes.append(training_class)
    session.flush()
    return classes


def _make_templates(session, policy, today):
    common = dict(region_code=REGION[0], policy_id=policy.id, status=TEMPLATE_ACTIVE,
                  claim_starts_on=today - timedelta(days=30), claim_ends_on=today + timedelta(days=60))
    templates = {
        "general_face": VoucherTemplate(
            name="2026年就业技能培训券（通用）", voucher_type="就业技能培训券", function_mode=FACE_VALUE,
            distribution_mode=GENERAL, face_value_fen=150000, standard_fen=120000, stock=500,
            project_types=["employment_skills", "certificate"], valid_days=180, **common),
        "general_credential": VoucherTemplate(
            name="2026年重点群体培训抵用券", voucher_type="重点群体培训券", function_mode=CREDENTIAL,
            distribution_mode=GENERAL, standard_fen=100000, stock=200, audience="targeted",
            eligible_groups=["unemployed", "graduate"], valid_days=120, **common),
        "directed_face": VoucherTemplate(
            name="家政服务定向培训券", voucher_type="家政培训券", function_mode=FACE_VALUE,
            distribution_mode=DIRECTED, face_value_fen=90000, standard_fen=90000, stock=100,
            project_types=["domestic_service"], valid_days=90, **common),
        "directed_credential": VoucherTemplate(
            name="企业职工岗前培训定向抵用券", voucher_type="企业职工培训券", function_mode=CREDENTIAL,
            distribution_mode=DIRECTED, standard_fen=60000, stock=300,
            project_types=["enterprise_staff", "pre_job"], valid_days=90, **common),
    }
    session.add_all(templates.values())
    session.flush()
    return templates


# The year's tasks of the demo city and its districts, and the annex-3 thresholds (seed 001).
TARGETS = {"330600": ("绍兴市", 1200, 120), "330602": ("越城区", 400, 40), "330603": ("柯桥区", 300, 30),
           "330604": ("上虞区", 250, 25), "330681": ("诸暨市", 250, 25)}
KPIS = [("claim_rate", "领券率", None, 0.40), ("use_rate", "用券率", None, 0.10),
        ("face_value_share", "面值券发放率", 0.40, 0.60), ("general_share", "通用券发放率", 0.40, 0.60),
        ("institution_coverage", "培训机构和培训平台覆盖率", 0.60, 0.80), ("project_coverage", "培训项目覆盖率", 0.60, 0.80),
        ("checkin_coverage", "打卡签到覆盖率", 0.60, 0.80), ("rating_completion", "培训评价完成率", 0.60, 0.80)]


def _make_targets(session, year: int) -> None:
    for code, (name, issue, use) in TARGETS.items():
        session.add(RegionTarget(year=year, province="浙江省", region_name=name, region_code=code, issue_target=issue,
                                 use_target=use, source="演示数据", scope_code=REGION[0]))
    for code, name, q3, q4 in KPIS:
        session.add(KpiTarget(year=year, code=code, name=name, q3_target=q3, q4_target=q4, scope_code=REGION[0],
                              source="湖南省职业培训券专项工作督导调度项目指标（演示）"))


def sign_in_help(session) -> list[str]:
    lines = ["", "== 登录方式 ==", "工作人员登录：/login（演示账户密码均为 " + DEMO_PASSWORD + "）"]
    for user in session.scalars(select(StaffUser).order_by(StaffUser.id)):
        where = user.institution.name if user.institution else user.region_code
        lines.append(f"  {user.username:<16}{user.role_label}{'（主管）' if user.is_supervisor else ''} · {where}")
    lines.append("劳动者：打开 /demo/tickets 选择渠道和劳动者（模拟渠道单点登录），或在 /sms 用手机号登录")
    lines.append("  （开发环境的短信验证码打印在服务器日志中）")
    lines.append(f"  /demo/tickets 先列出下面这 {len(WORKERS)} 位，其后是往季统计数据里的劳动者（无手机号）；同名的看身份证号")
    workers = select(Person).where(Person.verified_via.is_not(None)).order_by(Person.id).limit(len(WORKERS))
    for person in session.scalars(workers):
        lines.append(f"  {person.name:<6}{mask_id_number(person.id_number)} · 手机 {person.phone or '—'}"
                     f" · {'、'.join(person.group_labels) or '—'} · 失业保险{person.insurance_months}个月")
    for channel in session.scalars(select(Channel).order_by(Channel.id)):
        lines.append(f"渠道 {channel.name}：/sso/{channel.code}?ticket=…（签名密钥：flask channels secret {channel.code}）")
    return lines
