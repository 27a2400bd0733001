"""发券 and 审计日志 in the bureau console: issue a template (directed, to a class roster; general, to
a filtered population with a live count) and read the audit log, filtered and exportable."""
from datetime import datetime, timedelta

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import false, select

from ..access import BUREAU, person_in_region, roles_required
from ..codes import normalize_code
from ..extensions import db
from ..identity import id_number_error, mask_text, normalize_id_number
from ..ids import ascii_digits, database_id
from ..models import AuditEvent, Institution, Person, TrainingClass, Voucher, VoucherTemplate, in_region
from ..models.classes import CLASS_CANCELLED, CLASS_COMPLETED, CLASS_UNAPPROVED
from ..models.vouchers import DIRECTED, GENERAL, TEMPLATE_CLOSED, VOUCHER_STATUSES
from ..spreadsheets import csv_bytes, download
from ..timeutil import local_at, local_today, to_local
from ..vouchers.errors import DomainError
from .audit_subjects import subjects
from .forms import AuditFilterForm, IssueForm
from .routes import bp


def _templates(mode: str):
    """The templates 发券 may issue: the region's, not closed, their claim period not over."""
    return db.session.scalars(select(VoucherTemplate).where(
        in_region(VoucherTemplate.region_code, current_user.region_code),
        VoucherTemplate.distribution_mode == mode, VoucherTemplate.status != TEMPLATE_CLOSED,
        VoucherTemplate.claim_ends_on >= local_today(),
    ).order_by(VoucherTemplate.id)).all()


def _classes():
    return db.session.scalars(
        select(TrainingClass).join(Institution, TrainingClass.institution_id == Institution.id)
        .where(in_region(Institution.region_code, current_user.region_code),
               TrainingClass.status != CLASS_COMPLETED,
               TrainingClass.status.not_in(CLASS_UNAPPROVED),  # not before 开班审核 approves it (issue 19)
               TrainingClass.status != CLASS_CANCELLED)
        .order_by(TrainingClass.starts_on.desc())
    ).all()


def _pick(rows, value):
    return next((row for row in rows if str(row.id) == (value or "")), None)


@bp.route("/issue", methods=["GET", "POST"])
@roles_required(BUREAU)
def issue():
    form = IssueForm()
    report, message = None, None
    directed, general, classes = _templates(DIRECTED), _templates(GENERAL), _classes()
    if form.validate_on_submit():
        try:
            if form.kind.data == "directed":
                template, training_class = _pick(directed, form.template_id.data), _pick(classes, form.class_id.data)
                if template is None or training_class is None:
                    raise DomainError("请选择定向券模板和班期")
                # 定向发券 shows who gets one and who is skipped first, then issues (directed_issue.py)
                return redirect(url_for("bureau.issue_directed", template_id=template.id, class_id=training_class.id))
            else:  # 通用券 go to a population through 预览 and 确认 (population.py)
                raise DomainError("通用券请先选择发放条件并预览，确认人数后再发放")
        except DomainError as refusal:
            message = refusal.message
    from .population import blank_form

    return render_template("bureau/issue.html", form=form, directed=directed, general=general, classes=classes,
                           report=report, issued_template=None if report is None else template,
                           message=message, general_form=blank_form()), (400 if message else 200)


def _person_in_region(person_id: int | None) -> int | None:
    """The person's id if the clerk's region holds them, else 0 (no rows, and the page says
    （无此人）): another region's person is neither shown nor confirmed to exist."""
    if not person_id:
        return person_id
    person = db.session.get(Person, person_id)
    return person_id if person is not None and person_in_region(person, current_user.region_code) else 0


def _audit_query():
    """Filters from the query string; a person is looked up by the full ID number, shown masked.
    Only the clerk's region's rows: every row carries the region it belongs to (audit.record places
    one without a region of its own by its institution, else its person), so the region filter is
    one index range, the same for 45 million rows. A row of no region at all (no institution, no
    person, or a person of no known region) is no regional clerk's."""
    args = request.args
    query = (select(AuditEvent).where(in_region(AuditEvent.region_code, current_user.region_code))
             .order_by(AuditEvent.id.desc()))
    problems = []
    if args.get("code"):
        voucher_id = db.session.scalar(select(Voucher.id).where(Voucher.code == normalize_code(args["code"])))
        query = query.where(AuditEvent.voucher_id == (voucher_id or 0))
    person_id = database_id(args.get("person")) if args.get("person") else None
    if args.get("person") and person_id is None:
        person_id = 0  # a person no id names: no rows
    person_id = _person_in_region(person_id)
    if person_id is not None:
        # Links and the export carry the person's internal id, never the ID number typed in.
        query = query.where(AuditEvent.person_id == person_id)
    if args.get("institution"):
        institution_id = db.session.scalar(select(Institution.id).where(
            Institution.code == args["institution"].strip(),
            in_region(Institution.region_code, current_user.region_code)))  # another region's: no rows
        query = query.where(AuditEvent.institution_id == (institution_id or 0))
    if args.get("actor"):
        query = query.where(AuditEvent.actor_label.contains(args["actor"].strip()))
    bounds = {}
    for key in ("from", "to"):
        if args.get(key):
            try:
                day = datetime.strptime(args[key], "%Y-%m-%d").date() + timedelta(days=1 if key == "to" else 0)
                bounds[key] = local_at(day, datetime.min.time())
            except (ValueError, OverflowError):  # not a date, or beyond what a date can hold
                problems.append("日期格式应为 2026-11-22，且在 0002-01-01 至 9999-12-30 之间")
    if "from" in bounds and "to" in bounds and bounds["from"] >= bounds["to"]:
        problems.append("起始日期不能晚于截止日期")
    if problems:  # a filter not understood: no rows, rather than rows it did not filter
        return query.where(false()), problems, person_id
    if "from" in bounds:
        query = query.where(AuditEvent.at >= bounds["from"])
    if "to" in bounds:
        query = query.where(AuditEvent.at < bounds["to"])
    return query, problems, person_id


ACTION_LABELS = {
    "voucher.claim": "领券", "voucher.verify": "验券", "voucher.settle": "核销", "voucher.expire": "失效",
    "voucher.revoke": "作废", "voucher.offer": "发券", "voucher.auto_use_refused": "自动使用被拒",
    "settlement.submit": "提交结算", "settlement.draft": "结算草稿", "settlement.review": "审核",
    "settlement.approve": "审核通过", "settlement.reject": "审核驳回", "settlement.pay": "拨付",
    "settlement.payment_failed": "拨付失败", "settlement.match": "证书比对生成补贴", "settlement.sheet": "导出资金拨付表",
    "certificate.add": "添加证书", "payee.set": "设置收款账户", "payee.request": "申请变更收款账户",
    "payee.confirm": "确认收款账户", "payee.decline": "不予确认收款账户",
    "staff.login": "登录", "staff.lockout": "登录锁定", "staff.password": "修改密码", "staff.reset_password": "重置密码",
    "staff.create": "添加工作人员", "staff.disable": "停用工作人员", "staff.enable": "启用工作人员",
    "person.sso_login": "渠道登录", "person.sms_login": "短信登录",
    "person.bind_phone": "绑定手机号", "person.job_consent": "岗位推荐授权", "person.view": "查看人员信息",
    "policy.update": "修改地区政策",
    "class.create": "新建班期", "class.edit": "编辑班期", "class.open": "开放报名", "class.closed": "停止报名",
    "class.complete": "结业", "class.enrol": "报名", "class.results": "录入考核结果", "class.roster": "上传花名册",
    "class.submit": "提交开班申请", "class.resubmit": "重新提交开班申请", "class.approve": "开班审核通过",
    "class.return": "开班审核退回", "class.change": "审核通过后变更班期", "class.change_read": "已阅班期变更",
    "checkin.location": "定位签到", "checkin.scan": "扫码签到", "checkin.session_qr": "扫课堂码签到",
    "checkout.location": "定位签退", "checkout.scan": "扫码签退", "checkout.session_qr": "扫课堂码签退",
    "checkout.undo": "撤销签退",
    "class.cancel": "取消班期", "class.withdraw": "退班", "class.leave": "学员退出报名",
    "voucher.return": "退回可使用", "voucher.unbind": "定向券解除班期",
    "attendance.correction.request": "申请补签", "attendance.correction.approve": "补签审核通过",
    "attendance.correction.refuse": "补签不予通过", "attendance.study": "报送线上学习时长",
    "institution.onboard": "添加机构", "institution.strike": "记录问题", "institution.suspend": "暂停验券资格",
    "institution.reinstate": "恢复验券资格", "institution.contact": "修改联系方式", "institution.site": "培训地点",
    "issuance.directed": "定向发券", "issuance.general": "通用发券", "targets.import": "导入目标",
    "template.create": "制券", "template.edit": "修改券模板", "template.activate": "券模板生效",
    "template.close": "停止发放", "scanner.device.register": "登记扫码枪", "scanner.device.configure": "设置扫码枪",
    "scanner.device.revoke": "停用扫码枪", "people.import": "导入人员信息", "people.upsert": "接口推送人员信息",
}


AUDIT_PAGE = 50


AUDIT_FILTERS = ("code", "institution", "actor", "from", "to", "person")


def _by_id_number(values) -> Response:
    """The filters again, the ID number typed in replaced by the person's internal id: the page's
    filters are posted, so the full number never reaches a URL, the browser's history or an access
    log (an older link with ?id_number= is answered the same way)."""
    filters = {key: values[key].strip() for key in AUDIT_FILTERS if values.get(key, "").strip()}
    number = values.get("id_number", "").strip()
    if number:
        problem = id_number_error(number)
        if problem:
            flash(problem, "error")
        person_id = db.session.scalar(select(Person.id).where(Person.id_number == normalize_id_number(number)))
        filters["person"] = _person_in_region(person_id) or 0
    return redirect(url_for("bureau.audit_log", **filters))


@bp.route("/audit", methods=["GET", "POST"])
@roles_required(BUREAU)
def audit_log():
    """Newest first, 50 a page; "更早的记录" continues below the last one shown (by id, so a page
    costs the same however long the log is). Each row names its voucher."""
    if request.method == "POST":
        form = AuditFilterForm()
        if not form.validate_on_submit():
            flash(form.error_text(), "error")
            return redirect(url_for("bureau.audit_log"))
        return _by_id_number(form.filters())
    if request.args.get("id_number"):
        return _by_id_number(request.args)
    query, problems, person_id = _audit_query()
    before = request.args.get("before", "")
    if ascii_digits(before) and len(before) < 19:
        query = query.where(AuditEvent.id < int(before))
    rows = db.session.execute(
        query.add_columns(Voucher.code).outerjoin(Voucher, Voucher.id == AuditEvent.voucher_id)
        .limit(AUDIT_PAGE + 1)).all()
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    person = db.session.get(Person, person_id) if person_id else None
    filters = {k: v for k, v in request.args.items() if k not in ("person", "before") and v}
    if person_id is not None:
        filters["person"] = person_id
    return render_template("bureau/audit.html", rows=rows, problems=problems, labels=ACTION_LABELS,
                           subjects=subjects([event for event, _code in rows]),
                           person=person, person_id=person_id, filters=filters,
                           older=rows[-1][0].id if more else None, first_page=not before)


@bp.route("/audit.csv")
@roles_required(BUREAU)
def audit_export():
    if request.args.get("id_number"):
        return _by_id_number(request.args)  # then the page, with its 导出 CSV by the person's id
    query, _problems, _person = _audit_query()
    found = db.session.execute(
        query.add_columns(Voucher.code).outerjoin(Voucher, Voucher.id == AuditEvent.voucher_id).limit(50_000)).all()
    named = subjects([e for e, _code in found])
    rows = [[to_local(e.at).strftime("%Y-%m-%d %H:%M:%S"), e.actor_label, ACTION_LABELS.get(e.action, e.action),
             named[e.id], code or "", VOUCHER_STATUSES.get(e.from_status, ""), VOUCHER_STATUSES.get(e.to_status, ""),
             mask_text(e.reason or "")]
            for e, code in found]
    return download(csv_bytes(["时间", "操作人", "操作", "对象", "券码", "原状态", "新状态", "原因"], rows), "审计日志.csv",
                    "text/csv")


