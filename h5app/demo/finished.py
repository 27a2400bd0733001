"""Demo data: a class that finished last week, ready for its subsidy. Two trainees (吴芳 and 郑海,
listed on /demo/tickets after the demo's workers) claimed a general voucher, had it verified at the first lesson, were present at every lesson and passed, and the class
was completed (结业) — so on a fresh demo officer1 can apply for settlement (结算申请), a bureau clerk
review it and the cashier pay it. Applying needs a completed class; the other demo classes are
still running or to come."""
from datetime import UTC, time, timedelta

from ..models import CheckIn, ClassSession, ExamResult, Person, TrainingClass
from ..models.classes import CLASS_COMPLETED, CLASS_OPEN
from ..models.people import via_sso
from ..timeutil import local_at
from ..vouchers import app_qr_secret, claim, qrtoken, verify

LESSONS = 3


TRAINEES = [("吴芳", "330602", "19860214"), ("郑海", "330602", "19790823")]  # name, district, born


def seed_finished_class(session, institution, template, verifier, today, id_number) -> TrainingClass:
    """`id_number(district, born, seq, odd)`: the demo's maker of fictitious ID numbers."""
    trainees = [Person(name=name, id_number=id_number(district, born, 90 + n, n % 2 == 0), groups=["unemployed"],
                       region_code=district, insurance_months=40, verified_via=via_sso("zhrs"), channel_code="zhrs")
                for n, (name, district, born) in enumerate(TRAINEES)]
    session.add_all(trainees)
    start = today - timedelta(days=12)
    training_class = TrainingClass(
        institution_id=institution.id, course_name="茶艺师培训", occupation="茶艺师", level="五级",
        project_type="employment_skills", price_fen=130000, hours=LESSONS * 4, capacity=30, starts_on=start,
        ends_on=start + timedelta(days=(LESSONS - 1) * 2), status=CLASS_OPEN,
        description=f"{institution.name}上周结业的茶艺师培训：学员已全部到课并通过考核，可申请结算。",
    )
    training_class.sites = list(institution.sites)
    for n in range(LESSONS):
        day = start + timedelta(days=n * 2)
        training_class.sessions.append(ClassSession(
            title=f"第{n + 1}次课", starts_at=local_at(day, time(8, 30)), ends_at=local_at(day, time(17, 30)), hours=4,
            site_id=institution.sites[0].id))
    session.add(training_class)
    session.commit()
    first = training_class.sessions[0]
    for person in trainees:
        voucher = claim.claim(session, person, template, now=first.starts_at - timedelta(days=1))
        token = qrtoken.sign(app_qr_secret(), qrtoken.KIND_VOUCHER, voucher.code,
                             first.starts_at.replace(tzinfo=UTC).timestamp())
        verify.verify(session, qr=token, class_id=training_class.id, actor=verifier, qr_secret=app_qr_secret(),
                      now=first.starts_at, now_ts=first.starts_at.replace(tzinfo=UTC).timestamp())
        for lesson in training_class.sessions:
            session.add(CheckIn(session_id=lesson.id, person_id=person.id, method="scan", created_at=lesson.starts_at,
                                checked_out_at=lesson.ends_at, checkout_method="scan"))  # time present counts
        session.add(ExamResult(class_id=training_class.id, person_id=person.id, passed=True, score=88))
    training_class.status = CLASS_COMPLETED
    training_class.completed_at = training_class.sessions[-1].ends_at
    session.commit()
    return training_class
