"""结算审核: the issuing bureau reviews each line with its evidence, approves or rejects with a reason,
another clerk marks it paid (the vouchers become settled, their codes dead), and the 资金拨付表 is
exported as CSV or XLSX. Also 批量作废 of claimed vouchers with a reason."""
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from ..access import BUREAU, require_region_covers, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..identity import mask_id_number, mask_name
from ..models import CheckIn, ClassSession, Settlement, region_prefix, under_prefix
from ..models.settlement import LINE_APPROVED, S_PAID, S_REVIEWED, S_SUBMITTED
from ..spreadsheets import csv_bytes, xlsx_bytes
from ..vouchers import audit, lifecycle, settlement
from ..vouchers.errors import DomainError, ValidationFailed
from .routes import bp


def _my_settlement(settlement_id: int) -> Settlement:
    row = db.get_or_404(Settlement, settlement_id)
    require_region_covers(row.region_code)
    return row


@bp.route("/settlements")
@roles_required(BUREAU)
def settlements():
    prefix = region_prefix(current_user.region_code)
    status = request.args.get("status", "open")
    query = select(Settlement).where(under_prefix(Settlement.region_code, prefix)).order_by(Settlement.id.desc())
    query = query.where(Settlement.status.in_((S_SUBMITTED, S_REVIEWED)) if status == "open"
                        else Settlement.status == S_PAID)
    return render_template("bureau/settlements.html", settlements=db.session.scalars(query.limit(200)).all(),
                           status=status)


def _evidence(row: Settlement) -> dict[int, int]:
    """Check-ins on record per voucher holder in the class (the detail behind the attendance rate)."""
    if row.class_id is None:
        return {}
    return dict(db.session.execute(
        select(CheckIn.person_id, func.count(CheckIn.id)).join(ClassSession, CheckIn.session_id == ClassSession.id)
        .where(ClassSession.class_id == row.class_id).group_by(CheckIn.person_id)
    ).all())


@bp.route("/settlements/<int:settlement_id>", methods=["GET", "POST"])
@roles_required(BUREAU)
def settlement_review(settlement_id):
    row = _my_settlement(settlement_id)
    form = ConfirmForm()
    errors, message = [], None
    if form.validate_on_submit():
        approve = [l.voucher.code for l in row.lines if request.form.get(f"decision-{l.id}") == "approve"]
        reject = [(l.voucher.code, request.form.get(f"reason-{l.id}", "")) for l in row.lines
                  if request.form.get(f"decision-{l.id}") == "reject"]
        if not approve and not reject:
            message = "请至少对一张券给出审核意见"
        else:
            try:
                settlement.review(db.session, row, audit.Actor.for_staff(current_user), approve=approve, reject=reject)
            except ValidationFailed as refusal:
                message, errors = refusal.message, refusal.details.get("rows", [])
            except DomainError as refusal:
                message = refusal.message
            else:
                flash("审核意见已保存", "success")
                return redirect(url_for("bureau.settlement_review", settlement_id=settlement_id))
    return render_template("bureau/settlement.html", settlement=row, form=form, message=message, errors=errors,
                           checkins=_evidence(row), mask_name=mask_name, mask_id=mask_id_number), (
        400 if message else 200)


@bp.route("/settlements/<int:settlement_id>/payment", methods=["POST"])
@roles_required(BUREAU)
def settlement_payment(settlement_id):
    row = _my_settlement(settlement_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        settlement.pay(db.session, row, audit.Actor.for_staff(current_user))
    except DomainError as refusal:
        flash(refusal.message, "error")
    else:
        flash(f"已标记拨付 {row.approved_total_fen / 100:,.2f} 元，相关培训券已核销", "success")
    return redirect(url_for("bureau.settlement_review", settlement_id=settlement_id))


SHEET_HEADER = ["申请编号", "收款方", "班期", "券码", "持券人", "身份证号", "打卡率", "补贴金额（元）"]


@bp.route("/settlements/<int:settlement_id>/sheet.<fmt>")
@roles_required(BUREAU)
def disbursement_sheet(settlement_id, fmt):
    """资金拨付表: the approved lines of a reviewed or paid application."""
    row = _my_settlement(settlement_id)
    if row.status not in (S_REVIEWED, S_PAID) or fmt not in ("csv", "xlsx"):
        abort(404)
    payee = row.institution.name if row.institution else "劳动者本人"
    course = row.lines[0].voucher.training_class.course_name if row.lines and row.lines[0].voucher.training_class else ""
    rows = [[row.id, payee, course, line.voucher.code, line.voucher.person.name,
             mask_id_number(line.voucher.person.id_number), float(line.attendance_rate), line.amount_fen / 100]
            for line in row.lines if line.decision == LINE_APPROVED]
    rows.append(["合计", "", "", "", "", "", "", row.approved_total_fen / 100])
    if fmt == "csv":
        text_rows = [[*r[:6], f"{r[6]:.0%}" if r[6] != "" else "", f"{r[7]:.2f}"] for r in rows]
        body, mimetype = csv_bytes(SHEET_HEADER, text_rows), "text/csv"
    else:
        body = xlsx_bytes("资金拨付表", SHEET_HEADER, rows, {6: "0%", 7: "#,##0.00"})
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''disbursement-{row.id}.{fmt}"})


@bp.route("/revoke", methods=["GET", "POST"])
@roles_required(BUREAU)
def revoke():
    """批量作废: paste codes (one per line or comma-separated) and a reason; each code gets a result."""
    form = ConfirmForm()
    report, message = None, None
    if form.validate_on_submit():
        text = (request.form.get("codes") or "").replace("，", ",").replace(",", "\n")
        codes = [c.strip() for c in text.split() if c.strip()]
        if not codes:
            message = "请粘贴要作废的券码"
        elif len(codes) > 5000:
            message = "一次最多作废5000张，请分批处理"
        else:
            try:
                report = lifecycle.revoke(db.session, codes, request.form.get("reason", ""),
                                          audit.Actor.for_staff(current_user))
            except DomainError as refusal:
                message = refusal.message
    return render_template("bureau/revoke.html", form=form, report=report, message=message), (400 if message else 200)
