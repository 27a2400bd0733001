"""补签审核: the bureau of the class's region sees the institutions' attendance corrections with
their evidence, and approves (the attendance counts) or refuses with a reason."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from .. import evidence
from ..access import BUREAU, regional, roles_required
from ..extensions import db
from ..models import AttendanceCorrection, TrainingClass, region_prefix, under_prefix
from ..models.attendance import CORRECTION_PENDING, CORRECTION_STATUSES
from ..vouchers import audit, corrections
from ..vouchers.errors import DomainError
from .forms import CorrectionReviewForm
from .routes import bp

PER_PAGE = 50


def _mine(correction_id: int) -> AttendanceCorrection:
    return regional(AttendanceCorrection, correction_id)  # 404 outside the region


def pending_count() -> int:
    return db.session.scalar(select(func.count(AttendanceCorrection.id)).where(
        under_prefix(AttendanceCorrection.region_code, region_prefix(current_user.region_code)),
        AttendanceCorrection.status == CORRECTION_PENDING)) or 0


def _queue(status: str | None, *, errors=None, typed=None, code: int = 200):
    query = (select(AttendanceCorrection)
             .options(joinedload(AttendanceCorrection.person), joinedload(AttendanceCorrection.class_session),
                      joinedload(AttendanceCorrection.training_class).joinedload(TrainingClass.institution))
             .where(under_prefix(AttendanceCorrection.region_code, region_prefix(current_user.region_code)))
             .order_by(AttendanceCorrection.id if status == CORRECTION_PENDING else AttendanceCorrection.id.desc())
             .limit(PER_PAGE))
    if status in CORRECTION_STATUSES:
        query = query.where(AttendanceCorrection.status == status)
    forms = {}
    found = db.session.scalars(query).all()
    for correction in found:
        if correction.is_pending:
            form = CorrectionReviewForm(prefix=f"c{correction.id}", formdata=None)
            form.reason.data = (typed or {}).get(correction.id)
            form.reason.errors = [errors[correction.id]] if errors and correction.id in errors else []
            forms[correction.id] = form
    return render_template("bureau/corrections.html", corrections=found, forms=forms, status=status,
                           waiting=pending_count()), code


@bp.route("/corrections")
@roles_required(BUREAU)
def correction_queue():
    status = request.args.get("status", CORRECTION_PENDING)
    return _queue(status if status in CORRECTION_STATUSES else None)


@bp.route("/corrections/<int:correction_id>/review", methods=["POST"])
@roles_required(BUREAU)
def review_correction(correction_id):
    correction = _mine(correction_id)
    form = CorrectionReviewForm(prefix=f"c{correction_id}")
    if not form.validate_on_submit() or not (form.approve.data or form.refuse.data):
        message = "；".join(e for errs in form.errors.values() for e in errs) or "请选择通过或不予通过"
        return _queue(CORRECTION_PENDING, errors={correction_id: message}, typed={correction_id: form.reason.data},
                      code=400)
    try:
        corrections.review_correction(db.session, correction, bool(form.approve.data), form.reason.data,
                                      audit.Actor.for_staff(current_user))
    except DomainError as refusal:
        return _queue(CORRECTION_PENDING, errors={correction_id: refusal.message},
                      typed={correction_id: form.reason.data},
                      code=400 if refusal.status in (403, 422) else refusal.status)
    flash(f"补签申请 #{correction_id} 已{'通过，计入打卡率' if form.approve.data else '不予通过'}", "success")
    return redirect(url_for("bureau.correction_queue"))


@bp.route("/corrections/<int:correction_id>/evidence")
@roles_required(BUREAU)
def correction_evidence(correction_id):
    correction = _mine(correction_id)
    return evidence.send(correction.evidence_file, f"补签{correction.id}-签到表.jpg")
