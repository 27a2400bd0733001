"""制券: create voucher templates with every attribute of PRODUCT.md §3, edit them while nothing has
been issued, put a draft in force (生效), close them, and preview how the voucher looks to a worker."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from ..access import BUREAU, regional, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..models import Region, VoucherTemplate, in_region, region_prefix, under_prefix
from ..timeutil import utcnow
from ..vouchers import audit, issuance
from ..vouchers import templates as templates_service
from ..vouchers.errors import DomainError, ValidationFailed
from .forms import TemplateForm
from .routes import bp

def _form(template=None, *, fresh: bool = False) -> TemplateForm:
    """The 制券 form; `fresh`: the template's own values even on a POST (another action's page)."""
    form = TemplateForm(formdata=None, obj=template) if fresh else TemplateForm(obj=template)
    prefix = region_prefix(current_user.region_code)
    regions = db.session.scalars(select(Region).where(under_prefix(Region.code, prefix)).order_by(Region.code)).all()
    form.region_code.choices = [SelectChoice(r.code, r.name) for r in regions]
    # 券类型 counts the yearly claim limit (Chongqing: 同一类型每人限领一次): offer the area's own
    # words, so that the same kind of voucher is not typed two ways.
    form.voucher_type.render_kw = {"list": "voucher-types", "autocomplete": "off"}
    form.voucher_types = db.session.scalars(
        select(VoucherTemplate.voucher_type).where(under_prefix(VoucherTemplate.region_code, prefix))
        .distinct().order_by(VoucherTemplate.voucher_type)).all()
    # Only the rules in force in the bureau's own area (another province's presets are not its to pick).
    form.policy_id.choices = [SelectChoice(p.id, p.name) for p in
                              templates_service.applicable_policies(db.session, current_user.region_code)]
    if request.method == "GET" or fresh:
        if template is not None:
            form.face_value.data = template.face_value_fen / 100 if template.face_value_fen is not None else None
            form.standard.data = template.standard_fen / 100 if template.standard_fen is not None else None
        else:
            form.policy_id.data = templates_service.regional_policy_id(db.session, current_user.region_code)
    return form


def _my_template(template_id: int) -> VoucherTemplate:
    return regional(VoucherTemplate, template_id)


@bp.route("/templates")
@roles_required(BUREAU)
def templates():
    rows = db.session.scalars(select(VoucherTemplate).where(
        in_region(VoucherTemplate.region_code, current_user.region_code)).order_by(VoucherTemplate.id.desc())).all()
    return render_template("bureau/templates.html", templates=rows)


@bp.route("/templates/new", methods=["GET", "POST"])
@roles_required(BUREAU)
def new_template():
    form = _form()
    if form.validate_on_submit():
        try:
            template = templates_service.create_template(db.session, form.values(), audit.Actor.for_staff(current_user),
                                                         created_by_id=current_user.id)
        except ValidationFailed as problems:
            form.show(problems.details["fields"])
        else:
            flash("券模板已保存为草稿；首次发券或点击“生效”后开始发放，之后不能再修改", "success")
            return redirect(url_for("bureau.template_detail", template_id=template.id))
    return render_template("bureau/template_form.html", form=form, template=None), (400 if form.errors else 200)


@bp.route("/templates/<int:template_id>", methods=["GET", "POST"])
@roles_required(BUREAU)
def template_detail(template_id):
    template = _my_template(template_id)
    issued = templates_service.issued_count(db.session, template)
    editable = templates_service.editable(template, issued)
    form = _form(template)
    if request.method == "POST":
        if not editable:
            abort(409)
        if form.validate_on_submit():
            try:
                templates_service.update_template(db.session, template, form.values(),
                                                  audit.Actor.for_staff(current_user))
            except ValidationFailed as problems:
                form.show(problems.details["fields"])
            else:
                flash("券模板已保存", "success")
                return redirect(url_for("bureau.template_detail", template_id=template_id))
    return _detail_page(template, form, issued, editable, 400 if form.errors else 200)


def _detail_page(template: VoucherTemplate, form: TemplateForm, issued: int, editable: bool, status: int):
    regions = dict(db.session.execute(select(Region.code, Region.name)).all())
    # A draft is put in force (生效) from here unless its claim window or use deadline has passed.
    lapsed = issuance.lapse_problem(template, utcnow()) if template.is_draft else None
    return render_template("bureau/template_form.html", form=form, template=template, issued=issued,
                           editable=editable, regions=regions, close_form=ConfirmForm(),
                           activate_form=ConfirmForm(), lapsed=lapsed, open_claim=_open_claim(template)), status


def _open_claim(template: VoucherTemplate) -> bool:
    """符合条件者均可领取，领完为止: in force, anyone eligible claims it in 卡券中心 (no offer first)."""
    return template.is_general and template.audience == "open"


@bp.route("/templates/<int:template_id>/activation", methods=["POST"])
@roles_required(BUREAU)
def activate_template(template_id):
    """生效 (开始发放): a draft put in force without issuing from it, as the API's activation —
    an open general template can then be claimed in 卡券中心 until its stock runs out."""
    template = _my_template(template_id)
    refusal = None
    if not ConfirmForm().validate_on_submit():
        refusal, status = "页面已过期，请刷新后重试", 400
    else:
        try:
            issuance.put_in_force(db.session, template, audit.Actor.for_staff(current_user))
        except DomainError as error:  # closed, or its claim window or deadline has passed
            refusal, status = error.message, 409
    if refusal is None:
        flash("券模板已生效：符合条件的劳动者可在卡券中心领取，领完为止；模板不能再修改" if _open_claim(template)
              else "券模板已生效，模板不能再修改；请到“发券”发放", "success")
        return redirect(url_for("bureau.template_detail", template_id=template_id))
    flash(refusal, "error")
    issued = templates_service.issued_count(db.session, template)
    editable = templates_service.editable(template, issued)
    return _detail_page(template, _form(template, fresh=True), issued, editable, status)


@bp.route("/templates/<int:template_id>/close", methods=["POST"])
@roles_required(BUREAU)
def close_template(template_id):
    template = _my_template(template_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    templates_service.close_template(db.session, template, audit.Actor.for_staff(current_user))
    flash("券模板已关闭：不再发放和领取，已领取的券仍可使用", "success")
    return redirect(url_for("bureau.template_detail", template_id=template_id))
