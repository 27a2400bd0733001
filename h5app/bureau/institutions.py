"""培训机构 in the bureau console: onboard one by form or many by CSV/XLSX (all or nothing, every bad row
named), each with its officer account and a first password shown once; record strikes (three in a year
suspend automatically) and reinstate with a reason; confirm or decline a change of the payee account
(收款账户) the institution asked for."""
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from ..access import BUREAU, institution_owns, regional, roles_required
from ..extensions import db
from ..forms import PayeeAccountForm
from ..ids import database_id
from ..models import Institution, PayeeAccount, StaffUser, TrainingClass, in_region
from ..models.institutions import INSTITUTION_TYPES
from ..models.settlement import ACCOUNT_PENDING
from ..onboarding import onboard
from ..spreadsheets import read_table, records
from ..timeutil import utcnow
from ..vouchers import audit, payees, supervision
from ..vouchers.errors import DomainError
from .forms import InstitutionForm, PayeeDecisionForm, SupervisionForm
from .routes import bp

COLUMNS = {
    "name": ("机构名称", "name"), "region_code": ("行政区划编码", "region_code"), "address": ("机构地址", "address"),
    "phone": ("机构电话", "phone"), "code": ("机构编码", "code"), "type": ("机构类型", "type"),
    "officer_name": ("机构专员姓名", "officer_name"),
    "officer_id_number": ("机构专员身份证号码", "机构专员身份证号", "officer_id_number"),
    "sites": ("培训机构经纬度", "经纬度", "sites"),
    # 收款账户, optional as a group: all three columns filled in a row, or none.
    "account_name": ("户名", "收款户名", "账户名称", "account_name"),
    "bank_name": ("开户行", "开户银行", "bank_name"),
    "account_number": ("账号", "银行账号", "收款账号", "account_number"),
}
OPTIONAL_COLUMNS = {"type", "account_name", "bank_name", "account_number"}
FIELD_LABELS = {field: names[0] for field, names in COLUMNS.items()}


@bp.route("/institutions", methods=["GET", "POST"])
@roles_required(BUREAU)
def institutions():
    form = InstitutionForm()
    made, message, errors = None, None, []
    if form.validate_on_submit():
        try:
            upload = form.file.data
            if upload:
                rows = records(read_table(upload.filename, upload.read()), COLUMNS, set(COLUMNS) - OPTIONAL_COLUMNS)
            else:
                rows = [{field: form[field].data or "" for field in COLUMNS}]
            made = onboard(db.session, rows, audit.Actor.for_staff(current_user))
        except DomainError as refusal:  # an unreadable file (SheetError), bad rows or a rule
            message, errors = refusal.message, refusal.details.get("rows", [])
    listed = db.session.scalars(select(Institution).where(
        in_region(Institution.region_code, current_user.region_code)).order_by(Institution.id)).all()
    return render_template("bureau/institutions.html", form=form, institutions=listed, made=made, message=message,
                           errors=errors, labels=FIELD_LABELS, types=INSTITUTION_TYPES,
                           csv_upload=bool(form.file.data)), (
        400 if message else 200)


@bp.route("/institutions/<int:institution_id>", methods=["GET", "POST"])
@roles_required(BUREAU)
def institution_detail(institution_id):
    institution = regional(Institution, institution_id)
    decision = PayeeDecisionForm()
    if decision.confirm.data or decision.decline.data:
        _decide_payee(institution, decision)
        return redirect(url_for("bureau.institution_detail", institution_id=institution_id))
    account_form = PayeeAccountForm(prefix="payee")
    form = SupervisionForm()
    status = 200
    if account_form.submit.data:
        if _set_payee(institution, account_form):
            return redirect(url_for("bureau.institution_detail", institution_id=institution_id) + "#payee")
        status = 400
    elif form.validate_on_submit():
        actor = audit.Actor.for_staff(current_user)
        try:
            if form.action.data == "strike":
                supervision.record_strike(db.session, institution, form.kind.data or "", form.reason.data or "", actor)
                flash("问题已记录" + ("，该机构本年度已满3次，已自动暂停验券资格" if institution.is_suspended else ""),
                      "success")
            elif form.action.data == "reinstate":
                supervision.reinstate(db.session, institution, form.reason.data or "", actor)
                flash("已恢复验券资格", "success")
            else:
                abort(400)
        except DomainError as refusal:
            flash(refusal.message, "error")
        return redirect(url_for("bureau.institution_detail", institution_id=institution_id))
    pending = payees.pending_account(db.session, institution.id)
    # Who entered the change waiting: the institution, another clerk, or the one reading the page.
    entered_by = db.session.get(StaffUser, pending.entered_by_id) if pending and pending.entered_by_id else None
    return render_template("bureau/institution.html", institution=institution, form=form,
                           kinds=supervision.STRIKE_KINDS,
                           strikes=supervision.strikes_this_year(db.session, institution, utcnow()),
                           payee=payees.active_account(db.session, institution_id=institution.id),
                           # No staff author: a bureau's API key (the institution's own change has its staff).
                           pending=pending, pending_by_bureau=entered_by is None or entered_by.institution_id is None,
                           pending_mine=entered_by is not None and entered_by.id == current_user.id, decision=decision,
                           account_form=account_form, classes=db.session.scalars(
                               select(TrainingClass).where(TrainingClass.institution_id == institution.id)
                               .order_by(TrainingClass.starts_on.desc(), TrainingClass.id.desc()).limit(100)).all(),
                           ), status


def _set_payee(institution: Institution, form: PayeeAccountForm) -> bool:
    """The bureau's own entry (from the institution's bank letter, say): a first account is in
    force at once, a change of the account in force waits for another staff member's confirmation."""
    if not form.validate_on_submit():
        return False
    try:
        account = payees.change_institution_account(db.session, institution, form.values(),
                                                    audit.Actor.for_staff(current_user))
    except DomainError as refusal:
        form.show(refusal.details.get("fields", {}))
        return False
    if account.status == ACCOUNT_PENDING:
        flash(f"收款账户变更（{account.bank_name} {account.masked_number}）已录入，须由另一名工作人员核对确认后生效；"
              "确认前仍拨付到原账户", "success")
    else:
        flash(f"收款账户已设置，此后拨付到 {account.bank_name} {account.masked_number}", "success")
    return True


def _decide_payee(institution: Institution, decision: PayeeDecisionForm) -> None:
    """确认变更 / 不予确认: the change shown on the page (its id posted), of this institution only."""
    if not decision.validate_on_submit():
        errors = decision.errors
        flash("页面已过期，请刷新后重试" if "csrf_token" in errors else next(iter(errors.values()))[0], "error")
        return
    account_id = decision.account_id.data
    account_id = database_id(account_id)
    account = db.session.get(PayeeAccount, account_id) if account_id else None
    if not institution_owns(institution.id, account):
        abort(404)
    approve = bool(decision.confirm.data)
    try:
        payees.decide_institution_account(db.session, account, audit.Actor.for_staff(current_user),
                                          approve=approve, reason=decision.reason.data or "")
    except DomainError as refusal:
        flash(refusal.message, "error")
        return
    flash(f"已确认收款账户变更，此后拨付到 {account.bank_name} {account.masked_number}" if approve
          else "已不予确认该收款账户变更，原因已记录", "success")
