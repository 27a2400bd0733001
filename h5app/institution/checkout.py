"""签退 at the front desk: the officer or verifier scans each trainee's QR as they leave (camera or
scan gun, as for scan check-in); the answer redraws the lesson's 签到表 with its 签退 column."""
from flask import jsonify, render_template, request
from flask_login import current_user

from ..access import OFFICER, VERIFIER, roles_required
from ..desk_outcomes import checkout_message, done, refused
from ..extensions import db
from ..vouchers import app_qr_secret, audit
from ..vouchers import checkout as checkout_service
from ..vouchers.errors import DomainError
from .attendance import _my_session, attendance_sheet
from .forms import ScanForm, UndoCheckoutForm
from .routes import bp


@bp.route("/sessions/<int:session_id>/checkout", methods=["GET", "POST"])
@roles_required(OFFICER, VERIFIER)
def session_checkout(session_id):
    class_session = _my_session(session_id)
    verdict, status = None, 200
    form = ScanForm()
    if form.validate_on_submit():
        try:
            checked_out = checkout_service.scan_check_out(
                db.session, class_session, form.qr.data,
                audit.Actor.for_staff(current_user), app_qr_secret())
        except DomainError as refusal:
            verdict, status = refused("checkout", refusal.code, refusal.message), refusal.status
        else:
            verdict = done(checked_out.result, checkout_message(checked_out), checked_out.person)
            if checked_out.result == checkout_service.CHECKED_OUT:  # a slip can be taken back at once
                verdict["undo"] = {"check_in_id": checked_out.check_in.id}
        if request.accept_mimetypes.best == "application/json":
            return jsonify({**verdict, "sheet": attendance_sheet(class_session)}), status
    return _page(class_session, verdict, status)


@bp.route("/sessions/<int:session_id>/checkout/undo", methods=["POST"])
@roles_required(OFFICER, VERIFIER)
def session_checkout_undo(session_id):
    """撤销签退 of the 签退 the desk just scanned (the verdict's button)."""
    class_session = _my_session(session_id)
    form = UndoCheckoutForm()
    if not form.validate_on_submit():
        verdict, status = refused("checkout", "VALIDATION_FAILED", form.error_text(), title="不能撤销签退"), 400
    else:
        try:
            undone = checkout_service.undo_scan_check_out(db.session, class_session, form.check_in_id.data,
                                                          audit.Actor.for_staff(current_user))
        except DomainError as refusal:
            verdict, status = refused("checkout", refusal.code, refusal.message, title="不能撤销签退"), refusal.status
        else:
            verdict, status = done(undone.result, "本次课的签退已撤销，学员离开时请重新扫码签退", undone.person), 200
    if request.accept_mimetypes.best == "application/json":
        return jsonify({**verdict, "sheet": attendance_sheet(class_session)}), status
    return _page(class_session, verdict, status)


def _page(class_session, verdict, status):
    return render_template("institution/session_checkout.html", class_session=class_session, verdict=verdict,
                           sheet=attendance_sheet(class_session)), status
