"""After the training: exam results and trainee ratings, 结业, and 结算申请 (from the class's
verified vouchers or imported codes, each line with its eligibility and amount) with its status."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from ..access import OFFICER, VERIFIER, owned, roles_required
from ..codes import CODE_LENGTH
from ..extensions import db
from ..forms import ConfirmForm
from ..identity import mask_id_number, mask_name
from ..ids import page_number
from ..models import AttendanceCorrection, Enrolment, ExamResult, Settlement, TraineeRating, TrainingClass
from ..models.attendance import CORRECTION_PENDING
from ..models.classes import ENROLLED
from ..vouchers import audit, completion, exam_results, settlement, settlement_lists, subsidy
from ..vouchers.errors import DomainError
from .forms import ResultsForm, SettlementApplyForm
from .routes import bp

SETTLEMENTS_PER_PAGE = 50


@bp.route("/classes/<int:class_id>/results", methods=["GET", "POST"])
@roles_required(OFFICER)
def class_results(class_id):
    training_class = owned(TrainingClass, class_id)
    enrolments = db.session.scalars(select(Enrolment).where(
        Enrolment.class_id == class_id, Enrolment.status == ENROLLED).order_by(Enrolment.id)).all()
    trainees = [e.person_id for e in enrolments]
    form = ResultsForm.for_rows(trainees)
    error = None
    if form.validate_on_submit():
        actor = audit.Actor.for_staff(current_user)
        try:
            if not training_class.is_completed:  # 结业 fixed the results; ratings may still change
                exam_results.record_results(db.session, training_class, form.outcomes(trainees), actor)
            for person_id, stars in form.stars(trainees).items():  # None: 不评价 takes back the rating shown
                exam_results.rate_trainee(db.session, training_class, person_id, stars, None, actor)
        except DomainError as refusal:
            error = refusal.message
        else:
            flash("考核结果和学员评价已保存", "success")
            return redirect(url_for("institution.class_results", class_id=class_id))
    elif form.errors:
        error = form.error_text()
    recorded = {r.person_id: r.passed for r in db.session.scalars(select(ExamResult).where(ExamResult.class_id == class_id))}
    rated = {r.person_id: r.stars for r in db.session.scalars(select(TraineeRating).where(TraineeRating.class_id == class_id))}
    rows = [{"id": e.person_id, "name": mask_name(e.person.name), "id_number": mask_id_number(e.person.id_number),
             "passed": recorded.get(e.person_id), "stars": rated.get(e.person_id)} for e in enrolments]
    return render_template("institution/results.html", training_class=training_class, rows=rows, form=form,
                           error=error), (400 if error else 200)


@bp.route("/classes/<int:class_id>/complete", methods=["GET", "POST"])
@roles_required(OFFICER)
def complete_class(class_id):
    """结业 asks first: the page says whether the class may complete now and what will follow;
    its button posts back here."""
    training_class = owned(TrainingClass, class_id)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            made = settlement.complete_class(db.session, training_class, audit.Actor.for_staff(current_user))
        except DomainError as refusal:
            flash(refusal.message, "error")
        else:
            flash("班期已结业" + (f"，{len(made.lines)}张定向抵用券已自动使用并提交结算" if made else ""), "success")
            return redirect(url_for("institution.class_trainees", class_id=class_id))
    if training_class.is_completed and request.method == "GET":
        return redirect(url_for("institution.class_trainees", class_id=class_id))
    preview = completion.preview(db.session, training_class)
    return render_template("institution/complete.html", training_class=training_class, preview=preview, form=form), (
        409 if request.method == "POST" else 200)


@bp.route("/classes/<int:class_id>/settlement", methods=["GET", "POST"])
@roles_required(OFFICER)
def apply_settlement(class_id):
    """The class's applications made so far, and a preview of the vouchers not yet applied for with
    their eligibility; submitted once the class is completed (结业), as the service requires."""
    training_class = owned(TrainingClass, class_id)
    form = SettlementApplyForm()
    error, bad_rows = None, []
    if form.validate_on_submit():
        try:
            made = settlement.apply(db.session, training_class, audit.Actor.for_staff(current_user),
                                    codes=_full_codes(form.codes.codes, training_class) or None)
        except DomainError as refusal:  # bad codes are listed, whichever error they make (unknown: 404)
            error, bad_rows = refusal.message, refusal.details.get("rows", [])
        else:
            flash(f"结算申请已提交（{len(made.lines)}张券）", "success")
            return redirect(url_for("institution.settlement_detail", settlement_id=made.id))
    pending = settlement.vouchers_to_apply_for(db.session, training_class)
    preview = [(v, subsidy.assess(db.session, v, training_class)) for v in pending]
    corrections_waiting = db.session.scalar(select(func.count(AttendanceCorrection.id)).where(
        AttendanceCorrection.class_id == class_id, AttendanceCorrection.status == CORRECTION_PENDING))
    return render_template("institution/settlement_apply.html", training_class=training_class, form=form,
                           preview=preview, error=error, bad_rows=bad_rows, corrections_waiting=corrections_waiting,
                           applications=settlement_lists.class_applications(db.session, training_class)), (
        400 if error else 200)


def _full_codes(entered: list[str], training_class) -> list[str]:
    """The codes as typed, a tail the page shows ("…THYK", "THYK") read as the one voucher of the
    class still to apply for that ends so; anything else as typed, for the service to judge."""
    if not entered:
        return []
    pending = [v.code for v in settlement.vouchers_to_apply_for(db.session, training_class)]
    full = []
    for code in entered:
        tail = code.lstrip("….").upper()
        matches = [c for c in pending if c.endswith(tail)] if 0 < len(tail) < CODE_LENGTH else []
        full.append(matches[0] if len(matches) == 1 else code)
    return full


@bp.route("/settlements")
@roles_required(OFFICER, VERIFIER)
def settlements():
    found = settlement_lists.list_settlements(
        db.session, settlement_lists.Filters(institution_id=current_user.institution_id),
        page=page_number(request.args.get("page")), per_page=SETTLEMENTS_PER_PAGE)
    return render_template("institution/settlements.html", settlements=found.rows, found=found)


@bp.route("/settlements/<int:settlement_id>")
@roles_required(OFFICER, VERIFIER)
def settlement_detail(settlement_id):
    row = owned(Settlement, settlement_id)
    return render_template("institution/settlement.html", settlement=row)
