"""签退 on the worker's 打卡签到 page: after checking in to a lesson, the worker checks out by location
as they leave (inside the site's radius, until an hour after the lesson), or by scanning the
classroom's 签退码. Where the region's policy
counts time present, the page says so: the lesson then counts from check-in to check-out."""
from datetime import timedelta

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from ..access import WORKER, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..models import CheckIn, ClassSession
from ..vouchers import app_qr_secret
from ..vouchers import checkout as checkout_service
from ..vouchers import presence
from ..vouchers.errors import DomainError
from .forms import CheckInForm
from .routes import bp


def checkout_state(lessons: list[ClassSession]) -> dict:
    """For the 打卡签到 page: today's attendance records by lesson, the lessons still to check out of,
    and the classes whose region counts time present."""
    records = {c.session_id: c for c in db.session.scalars(select(CheckIn).where(
        CheckIn.person_id == current_user.id, CheckIn.session_id.in_([s.id for s in lessons] or [0])))}
    by_time = {}
    for lesson in lessons:
        if lesson.class_id not in by_time:
            by_time[lesson.class_id] = presence.counts_time_present(db.session, lesson.training_class)
    to_check_out = {s.id for s in lessons if (c := records.get(s.id)) is not None
                    and c.method in presence.IN_PERSON and c.checked_out_at is None}
    return {"records": records, "to_check_out": to_check_out, "by_time": by_time}


def _said(done: checkout_service.CheckOut) -> str:
    return (("签退成功" if done.result == checkout_service.CHECKED_OUT else "本次课已签退")
            + f"，本次在场{presence.duration_words(timedelta(minutes=done.minutes_present))}")


@bp.route("/checkout/<int:session_id>", methods=["POST"])
@roles_required(WORKER)
def checkout_location(session_id):
    lesson = db.get_or_404(ClassSession, session_id)
    form = CheckInForm()
    if not form.validate_on_submit():
        flash("没有拿到您的位置：请允许浏览器使用定位后重试，或请培训机构扫码签退", "error")
        return redirect(url_for("worker.checkin"))
    try:
        done = checkout_service.location_check_out(db.session, current_user._get_current_object(), lesson,
                                                   form.lat.data, form.lng.data)
    except DomainError as refusal:
        flash(refusal.message, "error")
    else:
        flash(_said(done), "success")
    return redirect(url_for("worker.checkin"))


@bp.route("/checkout/scan/<token>", methods=["GET", "POST"])
@roles_required(WORKER)
def session_checkout(token):
    """The trainee scanned the classroom's rotating 签退码: one tap to confirm."""
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            done = checkout_service.session_qr_check_out(db.session, current_user._get_current_object(), token,
                                                         app_qr_secret())
        except DomainError as refusal:
            flash(refusal.message, "error")
        else:
            flash(_said(done), "success")
        return redirect(url_for("worker.checkin"))
    return render_template("worker/session_scan.html", form=form, word="签退")
