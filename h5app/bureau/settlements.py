"""结算审核: the issuing bureau reviews each line with its evidence, approves or rejects with a reason
(and the amount, where the face value is only a reference), another clerk pays it in batches with
the bank's reference — lines the bank returns go back to 待拨付 — and the 资金拨付表 is exported as
CSV or XLSX. Also 批量作废 of claimed vouchers with a reason."""
from decimal import Decimal, InvalidOperation

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import case, func, or_, select

from ..access import BUREAU, regional, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..identity import mask_id_number, mask_name
from ..ids import page_number
from ..models import CheckIn, ClassSession, PayeeAccount, Settlement, region_prefix
from ..models.settlement import ACCOUNT_ACTIVE, S_PAID, S_REJECTED, S_REVIEWED, S_SUBMITTED
from ..spreadsheets import XLSX, download
from ..timeutil import local_today, utcnow
from ..vouchers import audit, disbursement, lifecycle, payees, settlement, settlement_lists
from ..vouchers.errors import DomainError
from .forms import PaymentForm, RevokeForm, SettlementReviewForm
from .routes import bp

PER_PAGE = 50


def _my_settlement(settlement_id: int) -> Settlement:
    return regional(Settlement, settlement_id)


TABS = {S_SUBMITTED: "待审核", S_REVIEWED: "待拨付", S_PAID: "已拨付", S_REJECTED: "已驳回"}
PAYEE_TABS = {"": "全部", "institution": "培训机构", "worker": "劳动者本人"}


@bp.route("/settlements")
@roles_required(BUREAU)
def settlements():
    status = request.args.get("status", S_SUBMITTED)
    status = status if status in TABS else S_SUBMITTED
    payee_kind = request.args.get("payee", "")
    payee_kind = payee_kind if payee_kind in PAYEE_TABS else ""
    page = page_number(request.args.get("page"))
    prefix = region_prefix(current_user.region_code)
    found = settlement_lists.list_settlements(
        db.session, settlement_lists.Filters(status=status, payee_kind=payee_kind or None, region_prefix=prefix),
        page=page, per_page=PER_PAGE)
    overdue = {s.id: days for s, days in settlement_lists.overdue_reviews(db.session, utcnow(), region_prefix=prefix)}
    accounts = _accounts_of(found.rows)
    return render_template("bureau/settlements.html", found=found, status=status, payee_kind=payee_kind,
                           tabs=TABS, payee_tabs=PAYEE_TABS, overdue=overdue, accounts=accounts,
                           unpaid_tab=status == S_REVIEWED, paid_tab=status == S_PAID)


def _accounts_of(rows) -> dict:
    """Which payees of the listed settlements have an account in force (one query)."""
    institutions = {s.institution_id for s in rows if s.person_id is None}
    people = {s.person_id for s in rows if s.person_id is not None}
    have = set()
    for institution_id, person_id in db.session.execute(
            select(PayeeAccount.institution_id, PayeeAccount.person_id).where(
                PayeeAccount.status == ACCOUNT_ACTIVE,
                or_(PayeeAccount.institution_id.in_(institutions), PayeeAccount.person_id.in_(people)))):
        have.add(("person", person_id) if person_id is not None else ("institution", institution_id))
    return {s.id: (("person", s.person_id) if s.person_id is not None else ("institution", s.institution_id)) in have
            for s in rows}


def _evidence(row: Settlement) -> dict[int, tuple[int, int]]:
    """Check-ins on record per voucher holder in the class, and how many of them are 补签 (a
    correction the bureau approved, not a scan or a location): the detail behind the attendance rate."""
    if row.class_id is None:
        return {}
    corrected = func.sum(case((CheckIn.method == "correction", 1), else_=0))
    return {person_id: (total, corrections or 0) for person_id, total, corrections in db.session.execute(
        select(CheckIn.person_id, func.count(CheckIn.id), corrected)
        .join(ClassSession, CheckIn.session_id == ClassSession.id)
        .where(ClassSession.class_id == row.class_id).group_by(CheckIn.person_id)
    ).all()}


def _fen(text: str) -> int | None:
    """'860' or '860.50' yuan → fen; None when it is not a sum of money."""
    try:
        value = Decimal((text or "").strip().replace(",", "").replace("，", ""))
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")) or value > 10**7:
        return None
    return int(value * 100)


def _decisions(row: Settlement, form: SettlementReviewForm) -> tuple[list, list, dict, list]:
    """The per-line choices posted by the review form: approve, reject (with reasons), amounts."""
    approve, reject, amounts, bad = [], [], {}, []
    for line in row.lines:
        choice = form.row("decision", line.id).data
        code = line.voucher.code
        if choice == "approve":
            approve.append(code)
            typed = (form.row("amount", line.id).data or "").strip()
            if typed:
                fen = _fen(typed)
                if fen is None:
                    bad.append({"voucher_code": code, "message": "审核金额应为不小于0的金额，最多两位小数，如 860.00"})
                else:
                    amounts[code] = fen
        elif choice == "reject":
            reject.append((code, form.row("reason", line.id).data or ""))
    return approve, reject, amounts, bad


def _page(row, form, pay_form, *, message=None, errors=(), status=200):
    pay_form.batches_seen.data = str(len(row.batches))  # the page shows them all: the next payment follows them
    today = local_today().isoformat()
    # The date picker offers no day after today (the service refuses one).
    pay_form.paid_on.render_kw = {**(pay_form.paid_on.render_kw or {}), "max": today}
    return render_template(
        "bureau/settlement.html", settlement=row, form=form, pay_form=pay_form, message=message, errors=errors,
        checkins=_evidence(row), account=payees.settlement_account(db.session, row), mask_name=mask_name,
        # A change of the institution's account still waiting: paid to the account in force until confirmed.
        pending_account=payees.pending_account(db.session, row.institution_id)
        if row.awaiting_payment and row.person_id is None else None,
        rejected_before=settlement_lists.earlier_rejections(db.session, row),
        mask_id=mask_id_number, today=today), status


@bp.route("/settlements/<int:settlement_id>", methods=["GET", "POST"])
@roles_required(BUREAU)
def settlement_review(settlement_id):
    row = _my_settlement(settlement_id)
    form = SettlementReviewForm.for_rows(line.id for line in row.lines)
    if not form.validate_on_submit():  # the page, or a decision that is none of those offered
        return _page(row, form, PaymentForm(formdata=None, paid_on=local_today().isoformat()),
                     message=form.error_text() or None, status=400 if form.errors else 200)
    approve, reject, amounts, bad = _decisions(row, form)
    message = None
    if bad:
        message = "审核金额有误，未做任何更改"
    elif not approve and not reject:
        message = "请至少对一张券给出审核意见"
    else:
        try:
            settlement.review(db.session, row, audit.Actor.for_staff(current_user), approve=approve, reject=reject,
                              amounts=amounts)
        except DomainError as refusal:
            message, bad = refusal.message, refusal.details.get("rows", [])
        else:
            flash("审核意见已保存", "success")
            return redirect(url_for("bureau.settlement_review", settlement_id=settlement_id))
    return _page(row, form, PaymentForm(formdata=None, paid_on=local_today().isoformat()), message=message,
                 errors=bad, status=400)


@bp.route("/settlements/<int:settlement_id>/payment", methods=["POST"])
@roles_required(BUREAU)
def settlement_payment(settlement_id):
    row = _my_settlement(settlement_id)
    pay_form = PaymentForm.for_rows(line.id for line in row.unpaid_lines)
    if not pay_form.validate_on_submit():
        return _page(row, ConfirmForm(formdata=None), pay_form, message="拨付信息有误，请按提示修改", status=400)
    seen = pay_form.batches_seen.data  # absent from a page drawn before the field existed: not asked
    if seen and seen != str(len(row.batches)):
        latest = row.batches[-1]
        then = f"打开本页后，已有人登记了一次拨付（回单号 {latest.reference}）"
        return _page(row, ConfirmForm(formdata=None), pay_form, status=409, message=(
            f"{then}：页面已更新，请核对拨付失败的行和收款账户后再拨付" if row.unpaid_lines
            else f"{then}，本申请已全部拨付，无需再拨付"))
    failed = [(line.voucher.code, pay_form.row("failure", line.id).data or "")
              for line in row.unpaid_lines if pay_form.row("failed", line.id).data]
    try:
        batch = settlement.pay(db.session, row, audit.Actor.for_staff(current_user),
                               reference=pay_form.reference.data, paid_on=pay_form.paid_on.parsed, failed=failed)
    except DomainError as refusal:
        for name, problem in refusal.details.get("fields", {}).items():  # shown at the field too
            if name in pay_form:
                pay_form[name].errors = [problem]
        return _page(row, ConfirmForm(formdata=None), pay_form, message=refusal.message,
                     errors=refusal.details.get("rows", []), status=400 if refusal.status != 403 else 403)
    parts = []
    if batch.paid_lines:
        parts.append(f"已拨付 {batch.paid_lines} 行，共 {batch.paid_total_fen / 100:,.2f} 元，相关培训券已核销")
    if batch.failed_lines:
        parts.append(f"{batch.failed_lines} 行拨付失败，已退回待拨付")
    flash("；".join(parts), "success" if batch.paid_lines else "warning")
    return redirect(url_for("bureau.settlement_review", settlement_id=settlement_id))


@bp.route("/settlements/<int:settlement_id>/sheet.<fmt>")
@roles_required(BUREAU)
def disbursement_sheet(settlement_id, fmt):
    """资金拨付表 of one application: its approved lines, paid or waiting."""
    row = _my_settlement(settlement_id)
    if not row.review_done or fmt not in ("csv", "xlsx"):
        abort(404)
    sheet = disbursement.build(db.session, region_code=row.region_code, settlement_ids=[row.id], unpaid_only=False)
    _audit_sheet(sheet, row.region_code, settlement_id=row.id)
    return _sheet_response(sheet, fmt, f"资金拨付表-结算申请{row.id}")


@bp.route("/settlements/disbursement.<fmt>")
@roles_required(BUREAU)
def disbursement_all(fmt):
    """资金拨付表 of everything approved and not yet paid in the clerk's region: per payee, with the
    account to pay to, 30 lines a page — what goes to the finance bureau for its stamp."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    sheet = disbursement.build(db.session, region_code=current_user.region_code,
                               region_prefix=region_prefix(current_user.region_code), unpaid_only=True)
    _audit_sheet(sheet, current_user.region_code)
    return _sheet_response(sheet, fmt, f"资金拨付表-{local_today().isoformat()}")


def _audit_sheet(sheet, region_code: str, **details) -> None:
    """A 资金拨付表 carries full account numbers: every download is in the audit log, whose and of what."""
    audit.record(db.session, audit.Actor.for_staff(current_user), "settlement.sheet", region_code=region_code,
                 details={"entries": len(sheet.entries), "total_fen": sheet.total_fen, **details})
    db.session.commit()


def _sheet_response(sheet, fmt: str, name: str) -> Response:
    if fmt == "csv":
        body, mimetype = disbursement.csv_bytes(sheet), "text/csv"
    else:
        body = disbursement.xlsx_bytes(sheet)
        mimetype = XLSX
    return download(body, f"{name}.{fmt}", mimetype)


@bp.route("/revoke", methods=["GET", "POST"])
@roles_required(BUREAU)
def revoke():
    """批量作废: paste codes (one per line or comma-separated) and a reason; each code gets a result."""
    form = RevokeForm()
    if request.method == "GET" and request.args.get("codes"):  # 作废 from a person's page: the code filled in
        form.codes.data = request.args["codes"][:20]
    report, message = None, None
    if form.validate_on_submit():
        codes = form.codes.codes
        if not codes:
            message = "请粘贴要作废的券码"
        else:  # the service refuses more than lifecycle.MAX_REVOKE_CODES, for the API too
            try:
                report = lifecycle.revoke(db.session, codes, form.reason.data or "",
                                          audit.Actor.for_staff(current_user))
            except DomainError as refusal:
                message = refusal.message
    return render_template("bureau/revoke.html", form=form, report=report, message=message), (400 if message else 200)
