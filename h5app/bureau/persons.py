"""人员信息: a bureau looks a person up by the full ID number (typed, never shown whole) and sees the
record the policies read, its history of changes and the person's vouchers. Only people whose
record places them in the bureau's region; every view is written to the audit log (who looked)."""
from flask import redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from ..access import BUREAU, person_in_region, roles_required
from ..extensions import db
from ..identity import mask_name, mask_phone, mask_text, normalize_id_number
from ..models import (
    PRIORITY_GROUPS, AuditEvent, Person, PersonRecordChange, Region, Voucher, VoucherTemplate, in_region,
)
from ..models.people import RECORD_REGION_FIELDS, RECORD_SOURCES
from ..timeutil import utcnow
from ..vouchers import audit
from .forms import PersonSearchForm
from .routes import bp

NOT_FOUND = "未找到该人员信息：本地区没有这个身份证号码的人员记录"
HISTORY_SHOWN = 50
VIEWS_SHOWN = 10
FIELD_LABELS = {**RECORD_REGION_FIELDS, "region_code": "所在地区", "insurance_months": "失业保险缴费月数",
                "groups": "重点群体", "name": "姓名", "phone": "手机号"}


def _not_found():
    return render_template("errors/error.html", code=404, title="未找到", message=NOT_FOUND), 404


@bp.route("/people", methods=["GET", "POST"])
@roles_required(BUREAU)
def people():
    """Search by the full ID number. A POST: the number typed never reaches a URL or an access log."""
    form = PersonSearchForm()
    message = None
    if form.validate_on_submit():
        person = db.session.scalar(select(Person).where(Person.id_number == normalize_id_number(form.id_number.data)))
        if person is not None and person_in_region(person, current_user.region_code):
            return redirect(url_for("bureau.person", person_id=person.id))
        message = NOT_FOUND  # whether the person exists elsewhere is not this bureau's to know
    form.id_number.data = ""  # never echoed back into the page
    return render_template("bureau/people.html", form=form, message=message), (400 if form.errors or message else 200)


def _value(field: str, value, names: dict) -> str:
    """A record value as the page shows it: a region by its name, groups by their labels, a phone
    masked; anything else with any ID number or phone inside masked."""
    if value is None or value == "" or value == []:
        return "未登记"
    if field in RECORD_REGION_FIELDS or field == "region_code":
        return f"{names.get(value, value)}（{value}）" if value in names else str(value)
    if field == "groups":
        return "、".join(PRIORITY_GROUPS.get(g, g) for g in value) if isinstance(value, list) else mask_text(str(value))
    if field == "insurance_months":
        return f"{value}个月"
    if field == "phone":
        return mask_phone(str(value))
    if field == "name":
        return mask_name(str(value))
    return mask_text(str(value))


@bp.route("/people/<int:person_id>")
@roles_required(BUREAU)
def person(person_id):
    """The record, its history and the vouchers. The view is audited before anything is shown."""
    person = db.session.get(Person, person_id)
    if person is None or not person_in_region(person, current_user.region_code):
        return _not_found()
    audit.record(db.session, audit.Actor.for_staff(current_user), "person.view", person_id=person.id,
                 region_code=current_user.region_code)
    db.session.commit()
    names = dict(db.session.execute(select(Region.code, Region.name)).all())
    record = [(label, _value(field, getattr(person, field), names)) for field, label in RECORD_REGION_FIELDS.items()]
    record += [("失业保险缴费月数", _value("insurance_months", person.insurance_months, names)),
               ("重点群体", _value("groups", person.groups, names)),
               ("所在地区", _value("region_code", person.region_code, names))]
    changes = db.session.scalars(
        select(PersonRecordChange).where(PersonRecordChange.person_id == person.id)
        .order_by(PersonRecordChange.as_of.desc(), PersonRecordChange.id.desc()).limit(HISTORY_SHOWN)).all()
    history = [dict(change=change, source=RECORD_SOURCES.get(change.source, change.source),
                    origin=mask_text(change.origin or ""),
                    fields=[(FIELD_LABELS.get(field, field), _value(field, old_new[0] if old_new else None, names),
                             _value(field, old_new[1] if old_new and len(old_new) > 1 else None, names))
                            for field, old_new in (change.changes or {}).items()])
               for change in changes]
    # Vouchers of this bureau's region; of another region's templates only how many there are.
    mine = in_region(VoucherTemplate.region_code, current_user.region_code)
    vouchers = db.session.scalars(
        select(Voucher).join(VoucherTemplate, Voucher.template_id == VoucherTemplate.id)
        .where(Voucher.person_id == person.id, mine).options(joinedload(Voucher.template))
        .order_by(Voucher.id.desc())).all()
    elsewhere = db.session.scalar(
        select(func.count(Voucher.id)).join(VoucherTemplate, Voucher.template_id == VoucherTemplate.id)
        .where(Voucher.person_id == person.id, ~mine))
    # Views by this region's staff and keys (a row carries the viewer's region): another region's
    # look-ups of a person both may see are that region's own business.
    views = db.session.execute(
        select(AuditEvent.at, AuditEvent.actor_label).where(
            AuditEvent.person_id == person.id, AuditEvent.action == "person.view",
            in_region(AuditEvent.region_code, current_user.region_code))
        .order_by(AuditEvent.id.desc()).limit(VIEWS_SHOWN)).all()
    return render_template("bureau/person.html", person=person, record=record, history=history,
                           source=RECORD_SOURCES.get(person.record_source, person.record_source),
                           vouchers=vouchers, elsewhere=elsewhere, views=views, now=utcnow())
