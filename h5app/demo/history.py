"""The demo's past season, so that 查询统计 opens on months of real figures: an earlier voucher that 48
more workers of the four districts claimed through the engine over the ten months before the last
six weeks, most of them verified at one of two rolling classes within a few weeks, the rest not
used (lapsing 90 days after the claim under Shaoxing's activation rule)."""
from datetime import UTC, date, time, timedelta

from ..models import ClassSession, Person, TrainingClass, VoucherTemplate
from ..models.classes import CLASS_CLOSED, CLASS_OPEN
from ..models.people import via_sso
from ..models.staff import VERIFIER
from ..models.vouchers import FACE_VALUE, GENERAL, TEMPLATE_ACTIVE
from ..timeutil import local_at
from ..vouchers import app_qr_secret, audit, claim, qrtoken, verify

SURNAMES = "张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀兰",
         "霞", "平", "建华", "海燕", "志强", "晓东"]
GROUPS = [["unemployed"], ["graduate"], ["rural_migrant"], [], ["low_income"], ["unemployed", "veteran"]]
PEOPLE = 48


def _epoch(moment) -> float:
    return moment.replace(tzinfo=UTC).timestamp()


def make_history(session, policy, region_code: str, districts: list[str], institutions, verifiers: dict, today: date,
                 id_number, first_seq: int) -> None:
    """`verifiers`: institution id → the Actor of its front desk; `id_number(region, born, seq, odd)`."""
    start, end = today - timedelta(days=300), today - timedelta(days=45)
    template = VoucherTemplate(
        name=f"{start.year}年第一期就业技能培训券（通用）", voucher_type="就业技能培训券", function_mode=FACE_VALUE,
        distribution_mode=GENERAL, face_value_fen=120000, standard_fen=120000, stock=60,
        project_types=["employment_skills"], valid_days=180, region_code=region_code, policy_id=policy.id,
        status=TEMPLATE_ACTIVE, claim_starts_on=start, claim_ends_on=end)
    classes = [_rolling_class(institution, course, occupation, start, today) for institution, course, occupation in (
        (institutions[0], "低压电工作业培训（滚动班）", "电工"), (institutions[1], "中式烹调师培训（滚动班）", "中式烹调师"))]
    people = [_person(i, districts[i % len(districts)], id_number, first_seq + i) for i in range(PEOPLE)]
    session.add_all([template, *classes, *people])
    session.commit()

    secret, span = app_qr_secret(), (end - start).days
    for i, person in enumerate(people):
        claimed_at = local_at(start + timedelta(days=(i * 37) % span), time(9 + i % 8, (i * 13) % 60))
        voucher = claim.claim(session, person, template, now=claimed_at)
        if i % 10 >= 7:
            continue  # not used: lapses 90 days after the claim
        training_class = classes[i % len(classes)]
        used_at = claimed_at + timedelta(days=3 + i % 20, hours=1)
        verify.verify(session, qr=qrtoken.sign(secret, qrtoken.KIND_VOUCHER, voucher.code, _epoch(used_at)),
                      class_id=training_class.id, actor=verifiers[training_class.institution_id],
                      qr_secret=secret, now=used_at, now_ts=_epoch(used_at))
    for training_class in classes:
        training_class.status = CLASS_CLOSED  # the season is over: no more enrolment
    session.commit()


def _rolling_class(institution, course: str, occupation: str, start: date, today: date) -> TrainingClass:
    training_class = TrainingClass(
        institution_id=institution.id, course_name=course, occupation=occupation, level="五级",
        project_type="employment_skills", price_fen=120000, hours=24, capacity=60, starts_on=start,
        ends_on=today - timedelta(days=1), status=CLASS_OPEN,
        description=f"{institution.name}开设的{course}，滚动开班，随到随学。")
    training_class.sites = list(institution.sites)
    for n in range(6):
        day = start + timedelta(days=14 + n * 40)
        training_class.sessions.append(ClassSession(
            title=f"第{n + 1}次课", starts_at=local_at(day, time(8, 30)), ends_at=local_at(day, time(12, 30)),
            hours=4, site_id=institution.sites[0].id))
    return training_class


def _person(i: int, district: str, id_number, seq: int) -> Person:
    born = f"{1972 + i % 28}{i % 12 + 1:02d}{i % 27 + 1:02d}"
    return Person(name=SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)],
                  id_number=id_number(district, born, seq, i % 2 == 0), phone=None, groups=GROUPS[i % len(GROUPS)],
                  region_code=district, insurance_months=36 + (i * 7) % 60, verified_via=via_sso("zhrs"),
                  channel_code="zhrs")


def verifier_actors(staff) -> dict:
    return {user.institution_id: audit.Actor.for_staff(user) for user in staff if user.role == VERIFIER}
