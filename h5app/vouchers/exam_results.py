"""考核结果 and 学员评价: an institution records exam results and rates its trainees."""
from sqlalchemy import select

from ..identity import normalize_id_number
from ..models import Enrolment, ExamResult, Person, TraineeRating, TrainingClass
from ..models.classes import ENROLLED
from ..timeutil import utcnow
from . import audit
from .errors import ClassCompleted, OutOfScope, ValidationFailed
from .transactions import service


def _trainees(session, training_class: TrainingClass) -> dict[int, Person]:
    return {e.person_id: e.person for e in session.scalars(select(Enrolment).where(
        Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED))}


@service
def record_results(session, training_class: TrainingClass, results: dict[int, bool | None], actor: audit.Actor,
                   *, now=None) -> int:
    """`results` maps person id → passed (None: not examined — a result recorded by mistake is
    taken back). Every person must be a trainee of the class; one bad entry and nothing is saved."""
    now = now or utcnow()
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能为本机构的班期录入考核结果")
    if training_class.is_completed:  # 结业 fixed them: settlements were judged (and paid) on them
        raise ClassCompleted(f"班期“{training_class.course_name}”已结业，考核结果不能再修改")
    trainees = _trainees(session, training_class)
    unknown = [pid for pid in results if pid not in trainees]
    if unknown:
        raise ValidationFailed("名单中有不是本班期学员的人员，未保存任何结果")
    existing = {r.person_id: r for r in session.scalars(select(ExamResult).where(ExamResult.class_id == training_class.id))}
    changed = 0
    for person_id, passed in results.items():
        row = existing.get(person_id)
        if passed is None:
            if row is not None:
                session.delete(row)
                changed += 1
            continue
        if row is None:
            session.add(ExamResult(class_id=training_class.id, person_id=person_id, passed=passed, created_at=now,
                                   recorded_by_id=actor.id if actor.type == "staff" else None))
            changed += 1
        elif row.passed != passed:
            row.passed, changed = passed, changed + 1
    audit.record(session, actor, "class.results", institution_id=training_class.institution_id, at=now,
                 details={"class_id": training_class.id, "changed": changed})
    session.commit()
    return changed


@service
def results_by_id_number(session, training_class: TrainingClass, rows: list[dict], actor: audit.Actor) -> int:
    """The API form: [{"id_number", "passed"}]; every row must name a trainee of the class."""
    trainees = {p.id_number: pid for pid, p in _trainees(session, training_class).items()}
    bad, seen = [], {}
    for index, row in enumerate(rows, start=1):
        number = normalize_id_number(str(row.get("id_number", "")))
        if number not in trainees or not isinstance(row.get("passed"), bool):
            bad.append({"index": index, "message": "不是本班期学员"})
        elif number in seen:
            bad.append({"index": index, "message": f"与第{seen[number]}行是同一学员"})
        else:
            seen[number] = index
    if bad:
        raise ValidationFailed("考核结果有误，未保存任何结果", rows=bad)
    return record_results(session, training_class,
                          {trainees[normalize_id_number(r["id_number"])]: r["passed"] for r in rows}, actor)


@service
def rate_trainee(session, training_class: TrainingClass, person_id: int, stars: int | None, comment: str | None,
                 actor: audit.Actor) -> TraineeRating | None:
    """Rate a trainee 1–5 stars; `stars` None takes back a rating given (不评价)."""
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能评价本机构班期的学员")
    if person_id not in _trainees(session, training_class):
        raise ValidationFailed("不是本班期学员")
    rating = session.scalar(select(TraineeRating).where(
        TraineeRating.class_id == training_class.id, TraineeRating.person_id == person_id))
    if stars is None:
        if rating is not None:
            session.delete(rating)
            session.commit()
        return None
    if not isinstance(stars, int) or not 1 <= stars <= 5:
        raise ValidationFailed("请选择1到5星")
    if rating is None:
        rating = TraineeRating(class_id=training_class.id, person_id=person_id)
        session.add(rating)
    rating.stars, rating.comment = stars, (comment or "").strip()[:500] or None
    rating.rated_by_id = actor.id if actor.type == "staff" else None
    session.commit()
    return rating
