"""Demo data of issue 19's part C: an online class open for enrolment (a worker claims a general
voucher in 卡券中心, enrols in 培训报名 and confirms the use with an SMS code), and a 补签 request with
a photo of the paper sign-in sheet waiting in the bureau's 补签审核."""
from datetime import time, timedelta
from io import BytesIO

from PIL import Image, ImageDraw

from .. import evidence
from ..models import CheckIn, ClassSession, TrainingClass
from ..models.classes import CLASS_OPEN, DELIVERY_ONLINE
from ..timeutil import local_at
from ..vouchers import audit, corrections


def seed_online_class(session, institution, today) -> TrainingClass:
    start = today + timedelta(days=2)
    training_class = TrainingClass(
        institution_id=institution.id, course_name="电子商务师线上培训", occupation="电子商务师", level=None,
        project_type="employment_skills", price_fen=60000, hours=12, capacity=200, starts_on=start,
        ends_on=start + timedelta(days=10), status=CLASS_OPEN, delivery=DELIVERY_ONLINE,
        description=f"{institution.name}的线上课程：在线学习6个单元，每单元2课时；学习时长由线上培训平台报送，计入打卡率。",
    )
    for n in range(6):
        day = start + timedelta(days=n * 2)
        training_class.sessions.append(ClassSession(title=f"第{n + 1}单元", starts_at=local_at(day, time(19)),
                                                    ends_at=local_at(day, time(21)), hours=2))
    session.add(training_class)
    session.flush()
    return training_class


def _sheet_photo() -> bytes:
    """A stand-in for a phone photo of the paper sign-in sheet."""
    image = Image.new("RGB", (1200, 900), (246, 244, 236))
    draw = ImageDraw.Draw(image)
    for row in range(1, 12):
        draw.line([(60, 60 + row * 70), (1140, 60 + row * 70)], fill=(90, 90, 90), width=3)
        draw.line([(700 + (row % 3) * 20, 80 + row * 70), (900, 100 + row * 70)], fill=(20, 30, 120), width=5)
    out = BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def seed_correction(session, training_class: TrainingClass, trainee, officer) -> None:
    """The trainee checked in at the class's first lesson and was missed at the second: the officer
    asked for a correction with the sheet's photo."""
    first, second = training_class.sessions[:2]
    session.add(CheckIn(session_id=first.id, person_id=trainee.id, method="scan", created_at=first.starts_at))
    session.commit()
    corrections.request_correction(session, second, trainee, "学员手机没电未能定位签到，已在纸质签到表签名",
                                   audit.Actor.for_staff(officer),
                                   evidence_file=evidence.store(evidence.clean_image(_sheet_photo())),
                                   now=second.ends_at)
