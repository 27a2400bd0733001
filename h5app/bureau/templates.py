"""制券: create voucher templates with every attribute of PRODUCT.md §3, edit them while nothing has
been issued, close them, and preview how the voucher looks to a worker."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from ..access import BUREAU, regional, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..models import Policy, Region, VoucherTemplate, in_region, region_prefix, under_prefix
from ..vouchers import audit
from ..vouchers import templates as templates_service
from ..vouchers.errors import ValidationFailed
from .forms import TemplateForm
from .routes import bp

def _form(template=None) -> TemplateForm:
    form = TemplateForm(obj=template)
    prefix = region_prefix(current_user.region_code)
    regions = db.session.scalars(select(Region).where(under_prefix(Region.code, prefix)).order_by(Region.code)).all()
    form.region_code.choices = [SelectChoice(r.code, r.name) for r in regions]
    form.policy_id.choices = [SelectChoice(p.id, p.name) for p in db.session.scalars(select(Policy).order_by(Policy.id))]
    if request.method == "GET":
        if template is not None:
            form.face_value.data = template.face_value_fen / 100 if template.face_value_fen is not None else None
            form.standard.data = template.standard_fen / 100 if template.standard_fen is not None else None
        else:
            region = next((r for r in regions if r.code == current_user.region_code), None)
            if region is not None and region.policy_id:
                form.policy_id.data = region.policy_id
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
            flash("券模板已保存为草稿；首次发券后生效，之后不能再修改", "success")
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
    regions = dict(db.session.execute(select(Region.code, Region.name)).all())
    return render_template("bureau/template_form.html", form=form, template=template, issued=issued,
                           editable=editable, regions=regions, close_form=ConfirmForm()), (400 if form.errors else 200)


@bp.route("/templates/<int:template_id>/close", methods=["POST"])
@roles_required(BUREAU)
def close_template(template_id):
    template = _my_template(template_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    templates_service.close_template(db.session, template, audit.Actor.for_staff(current_user))
    flash("券模板已关闭：不再发放和领取，已领取的券仍可使用", "success")
    return redirect(url_for("bureau.template_detail", template_id=template_id))
