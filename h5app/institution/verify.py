"""扫码验券: the front desk picks a class, then scans the worker's QR with the phone camera (or a
scan gun typing into the box). The verdict is unmistakable: green 验券成功, amber 已在本班验过, red
refusal with the engine's reason, and the trainee's masked name and ID to compare with the person."""
from flask import abort, jsonify, render_template, request
from flask_login import current_user

from ..access import OFFICER, VERIFIER, owned, roles_required
from ..desk_outcomes import done, refused, verified_message
from ..extensions import db
from ..ids import database_id
from ..models import TrainingClass
from ..vouchers import app_qr_secret, audit
from ..vouchers import verify as verify_service
from ..vouchers.classes import desk_classes
from ..vouchers.errors import DomainError
from .forms import VerifyScanForm
from .routes import bp

def _class_from(value) -> TrainingClass | None:
    if value in (None, ""):
        return None
    class_id = database_id(value)
    if class_id is None:
        abort(404)
    return owned(TrainingClass, class_id)


def verdict_for(training_class: TrainingClass, qr: str) -> tuple[dict, int]:
    """Run the engine's verification and describe the outcome for the desk."""
    try:
        outcome = verify_service.verify(db.session, qr=qr, class_id=training_class.id,
                                        actor=audit.Actor.for_staff(current_user), qr_secret=app_qr_secret())
    except DomainError as refusal:
        return refused("verify", refusal.code, refusal.message), refusal.status
    return done(outcome.result, verified_message(outcome.voucher), outcome.voucher.person), 200


@bp.route("/verify", methods=["GET", "POST"])
@roles_required(OFFICER, VERIFIER)
def verify():
    institution = current_user.institution
    form = VerifyScanForm()
    training_class = _class_from(form.class_id.data if form.is_submitted() else request.args.get("class_id"))
    verdict, status = None, 200
    if form.validate_on_submit():
        if training_class is None:
            abort(400)
        qr = form.qr.data
        if not qr:
            verdict, status = refused("verify", "QR_INVALID", "请对准学员的培训券二维码，或用扫码枪扫描",
                                      title="没有读到二维码"), 400
        else:
            verdict, status = verdict_for(training_class, qr)
        if request.accept_mimetypes.best == "application/json":
            return jsonify(verdict), status
    return render_template("institution/verify.html", institution=institution, classes=desk_classes(db.session, current_user.institution_id),
                           training_class=training_class, verdict=verdict), status
