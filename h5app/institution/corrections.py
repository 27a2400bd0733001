"""补签 at the institution: ask for a correction of a lesson's attendance with a photo of the paper
sign-in sheet, follow what the bureau decided, and see the photo again."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms.fields.choices import SelectChoice

from .. import evidence
from ..access import OFFICER, VERIFIER, owned, roles_required
from ..extensions import db
from ..identity import mask_id_number, mask_name
from ..models import AttendanceCorrection, CheckIn, ClassSession, Enrolment, Person
from ..models.classes import ENROLLED
from ..models.attendance import CORRECTION_PENDING, CORRECTION_STATUSES
from ..vouchers import audit, corrections
from ..vouchers.errors import DomainError
from .attendance import _my_session
from .forms import CorrectionForm
from .routes import bp

PER_PAGE = 100


def candidates(class_session: ClassSession) -> list[Person]:
    """Trainees of the lesson's class with no attendance for it and no request waiting."""
    taken = set(db.session.scalars(select(CheckIn.person_id).where(CheckIn.session_id == class_session.id)))
    taken |= set(db.session.scalars(select(AttendanceCorrection.person_id).where(
        AttendanceCorrection.session_id == class_session.id, AttendanceCorrection.status == CORRECTION_PENDING)))
    enrolled = db.session.scalars(select(Person).join(Enrolment, Enrolment.person_id == Person.id).where(
        Enrolment.class_id == class_session.class_id, Enrolment.status == ENROLLED).order_by(Enrolment.id))
    return [p for p in enrolled if p.id not in taken]


def lesson_corrections(class_session: ClassSession) -> list[AttendanceCorrection]:
    return db.session.scalars(select(AttendanceCorrection).options(joinedload(AttendanceCorrection.person))
                              .where(AttendanceCorrection.session_id == class_session.id)
                              .order_by(AttendanceCorrection.id.desc())).all()


@bp.route("/sessions/<int:session_id>/corrections/new", methods=["GET", "POST"])
@roles_required(OFFICER, VERIFIER)
def new_correction(session_id):
    class_session = _my_session(session_id)
    if class_session.training_class.is_online:
        abort(404)  # attendance of an online class is its platform's study time
    people = {str(p.id): p for p in candidates(class_session)}
    form = CorrectionForm()
    form.trainee.choices = [SelectChoice("", "请选择学员")] + [
        SelectChoice(key, f"{mask_name(p.name)}　{mask_id_number(p.id_number)}") for key, p in people.items()]
    if request.method == "GET" and request.args.get("person") in people:
        form.trainee.data = request.args["person"]
    error = None
    if form.validate_on_submit():
        try:
            jpeg = evidence.read_upload(form.photo.data)
        except evidence.EvidenceError as refusal:
            form.photo.errors = [refusal.message]
        else:
            stored = evidence.store(jpeg)
            try:
                corrections.request_correction(db.session, class_session, people[form.trainee.data], form.reason.data,
                                               audit.Actor.for_staff(current_user), evidence_file=stored)
            except DomainError as refusal:
                evidence.remove(stored)  # nothing of a refused request is kept
                error = refusal.message
            else:
                flash("补签申请已提交，请等待人社部门审核", "success")
                return redirect(url_for("institution.new_correction", session_id=session_id))
    return render_template("institution/correction_new.html", class_session=class_session, form=form, error=error,
                           corrections=lesson_corrections(class_session), has_candidates=bool(people)), (
        400 if error or form.errors else 200)


@bp.route("/corrections")
@roles_required(OFFICER, VERIFIER)
def correction_list():
    status = request.args.get("status")
    query = (select(AttendanceCorrection)
             .options(joinedload(AttendanceCorrection.person), joinedload(AttendanceCorrection.class_session),
                      joinedload(AttendanceCorrection.training_class))
             .where(AttendanceCorrection.institution_id == current_user.institution_id)
             .order_by(AttendanceCorrection.id.desc()).limit(PER_PAGE))
    if status in CORRECTION_STATUSES:
        query = query.where(AttendanceCorrection.status == status)
    return render_template("institution/corrections.html", corrections=db.session.scalars(query).all(),
                           status=status if status in CORRECTION_STATUSES else None)


@bp.route("/corrections/<int:correction_id>/evidence")
@roles_required(OFFICER, VERIFIER)
def correction_evidence(correction_id):
    correction = owned(AttendanceCorrection, correction_id)
    return evidence.send(correction.evidence_file, f"补签{correction.id}-签到表.jpg")

