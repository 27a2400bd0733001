"""扫码台: the institution's scan guns. The officer registers one (its token shown once) and
revokes it; the front desk (officer or verifier) opens a gun's scan station to watch its scans and
verdicts arrive live and to switch it between 扫码验券 for a class and 扫码签到 for a session.
Another institution's gun is a 404."""
from datetime import timedelta

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ..access import OFFICER, VERIFIER, owned, require_role, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..ids import ascii_digits
from ..models import ClassSession, ScanDevice, ScanRecord, TrainingClass
from ..models.classes import CLASS_RUNNING
from ..timeutil import to_local, utcnow
from ..vouchers import audit
from ..vouchers.classes import desk_classes
from ..vouchers.errors import DomainError
from . import devices, judge
from .forms import DeviceForm, DeviceSettingsForm

bp = Blueprint("scanning", __name__)
FEED_SIZE = 30


def _classes():
    return desk_classes(db.session, current_user.institution_id)


def _sessions():
    """Sessions from yesterday on, of the institution's running classes: what a desk checks in."""
    return db.session.scalars(
        select(ClassSession).join(TrainingClass, ClassSession.class_id == TrainingClass.id)
        .where(TrainingClass.institution_id == current_user.institution_id,
               TrainingClass.status.in_(CLASS_RUNNING),
               ClassSession.ends_at >= utcnow() - timedelta(days=1))
        .order_by(ClassSession.starts_at, ClassSession.id).limit(60)).all()


def session_label(class_session: ClassSession) -> str:
    start = to_local(class_session.starts_at)
    return f"{class_session.training_class.course_name} · {class_session.title or '课次'} · {start:%m月%d日 %H:%M}"


def _form(form_class, device: ScanDevice | None = None):
    form = form_class(obj=device) if device is not None and request.method == "GET" else form_class()
    form.set_choices(_classes(), _sessions(), session_label)
    return form


def _target_label(device: ScanDevice) -> str:
    if device.mode in devices.LESSON_MODES:
        class_session = db.session.get(ClassSession, device.session_id) if device.session_id else None
        return session_label(class_session) if class_session else "未选择课次"
    training_class = db.session.get(TrainingClass, device.class_id) if device.class_id else None
    return training_class.course_name if training_class else "未选择班期"


@bp.route("", methods=["GET", "POST"])
@roles_required(OFFICER, VERIFIER)
def index():
    form = _form(DeviceForm)
    if request.method == "POST":
        require_role(OFFICER)
        if form.validate_on_submit():
            try:
                device, token = devices.register(
                    db.session, institution_id=current_user.institution_id, name=form.name.data.strip(),
                    mode=form.mode.data, class_id=form.class_id.data, session_id=form.session_id.data,
                    actor=audit.Actor.for_staff(current_user))
            except DomainError as refusal:
                form.name.errors.append(refusal.message)
            else:
                return render_template("scanning/token.html", device=device, token=token,
                                       server_url=request.host_url.rstrip("/"))
    guns = db.session.scalars(select(ScanDevice).where(ScanDevice.institution_id == current_user.institution_id)
                              .order_by(ScanDevice.revoked_at.is_not(None), ScanDevice.id)).all()
    return render_template("scanning/index.html", form=form, devices=guns, modes=devices.MODES,
                           target_label=_target_label, action_form=ConfirmForm()), (400 if form.errors else 200)


@bp.post("/<int:device_id>/revoke")
@roles_required(OFFICER)
def revoke(device_id):
    device = owned(ScanDevice, device_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    devices.revoke(db.session, device, audit.Actor.for_staff(current_user))
    return redirect(url_for("scanning.index"))


LATE_DELIVERY = timedelta(seconds=10)  # a scan that reached the server later than this after its read


def _feed(device: ScanDevice, after: int = 0) -> list[dict]:
    query = select(ScanRecord).where(ScanRecord.device_id == device.id)
    if after:
        query = query.where(ScanRecord.id > after).order_by(ScanRecord.id).limit(FEED_SIZE)
        rows = db.session.scalars(query).all()
    else:
        rows = list(reversed(db.session.scalars(query.order_by(ScanRecord.id.desc()).limit(FEED_SIZE)).all()))
    feed = []
    for row in rows:
        item = judge.present(row)
        item["time"] = f"{to_local(row.read_at):%H:%M:%S}"
        if row.created_at - row.read_at > LATE_DELIVERY:
            # Read then, received now: the bridge was cut off meanwhile. The desk (and whoever
            # reviews the desk) sees it was judged as of its read, not as of its arrival.
            item["time"] += f" 扫码 · {to_local(row.created_at):%H:%M:%S} 网络恢复后补传"
        del item["key"]
        feed.append(item)
    return feed


@bp.route("/<int:device_id>", methods=["GET", "POST"])
@roles_required(OFFICER, VERIFIER)
def station(device_id):
    device = owned(ScanDevice, device_id)
    form = _form(DeviceSettingsForm, device)
    if request.method == "POST" and form.validate_on_submit():
        if device.revoked_at is not None:
            abort(404)
        try:
            devices.configure(db.session, device, mode=form.mode.data, class_id=form.class_id.data,
                              session_id=form.session_id.data, actor=audit.Actor.for_staff(current_user))
        except DomainError as refusal:
            form.mode.errors.append(refusal.message)
        else:
            return redirect(url_for("scanning.station", device_id=device.id, saved=1))
    feed = _feed(device)
    return render_template("scanning/station.html", device=device, form=form, feed=list(reversed(feed)),
                           last_id=feed[-1]["id"] if feed else 0, modes=devices.MODES,
                           # The form posts back to the ?saved=1 address: a refusal is not also said saved.
                           target=_target_label(device), saved=request.method == "GET" and request.args.get("saved")), (
        400 if form.errors else 200)


@bp.get("/<int:device_id>/feed.json")
@roles_required(OFFICER, VERIFIER)
def feed(device_id):
    """The scans after `after`, oldest first: the station page polls this."""
    device = owned(ScanDevice, device_id)
    after = request.args.get("after", "0")
    if not ascii_digits(after) or len(after) > 12:
        abort(400)
    response = jsonify({"scans": _feed(device, int(after)), "mode": device.mode,
                        "mode_label": devices.MODES[device.mode], "target": _target_label(device),
                        "revoked": device.revoked_at is not None})
    response.headers["Cache-Control"] = "no-store"
    return response
