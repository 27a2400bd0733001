"""签退 on the worker's 打卡签到 page: after checking in to a lesson, the worker checks out by location
as they leave (inside the site's radius, until an hour after the lesson), or by scanning the
classroom's 签退码. Where the region's policy
counts time present, the page says so: the lesson then counts from check-in to check-out.

A worker's 签退, and a scan of either classroom code, lands on a confirm page first (it works without
JavaScript): a 签退 closes the lesson for good, and a second tap on 定位签到 must not do it by accident.
The page names the lesson; a bad or stale classroom code, or a lesson the worker cannot check in to or
out of, is refused at once."""
from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms import BooleanField, SubmitField

from ..access import WORKER, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..models import CheckIn, ClassSession
from ..vouchers import app_qr_secret
from ..vouchers import checkin as checkin_service
from ..vouchers import checkout as checkout_service
from ..vouchers import presence
from ..vouchers.errors import DomainError
from .forms import CheckInForm
from .routes import bp


class LocationCheckOutForm(CheckInForm):
    """定位签退 from its confirm page: the position (filled in by checkin.js) and, for a 签退 minutes
    after the 签到, the worker's explicit confirmation."""

    early = BooleanField("我确认提前签退")
    submit = SubmitField("确认定位签退")


class ScanCheckOutForm(ConfirmForm):
    """签退 by the classroom's 签退码: one tap, and the same confirmation for an early 签退."""

    early = BooleanField("我确认提前签退")


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


def _refused(refusal: DomainError):
    flash(refusal.message, "error")
    return redirect(url_for("worker.checkin"))


def _confirm_check_out(lesson: ClassSession, form, geo: bool):
    """The confirm page of a 签退: when the worker checked in, the time present so far and, when that
    is only minutes, the warning and the checkbox the service then requires."""
    try:
        leaving = checkout_service.check_out_outlook(db.session, lesson, current_user._get_current_object())
    except DomainError as refusal:
        return _refused(refusal)
    by_time = presence.counts_time_present(db.session, lesson.training_class)
    return render_template("worker/session_scan.html", form=form, word="签退", lesson=lesson, leaving=leaving,
                           geo=geo, by_time=by_time)


@bp.route("/checkout/<int:session_id>", methods=["GET", "POST"])
@roles_required(WORKER)
def checkout_location(session_id):
    """GET: the confirm page the 打卡签到 page's 定位签退 leads to; POST (from it): the 签退."""
    lesson = db.get_or_404(ClassSession, session_id)
    form = LocationCheckOutForm()
    if request.method == "GET":
        return _confirm_check_out(lesson, form, geo=True)
    if not form.validate_on_submit():
        flash("没有拿到您的位置：请允许浏览器使用定位后重试，或请培训机构扫码签退", "error")
        return redirect(url_for("worker.checkin"))
    try:
        done = checkout_service.location_check_out(db.session, current_user._get_current_object(), lesson,
                                                   form.lat.data, form.lng.data, early_ok=form.early.data)
    except DomainError as refusal:
        flash(refusal.message, "error")
    else:
        flash(_said(done), "success")
    return redirect(url_for("worker.checkin"))


@bp.route("/checkout/scan/<token>", methods=["GET", "POST"])
@roles_required(WORKER)
def session_checkout(token):
    """The trainee scanned the classroom's rotating 签退码: the confirm page names the lesson."""
    form = ScanCheckOutForm()
    if form.validate_on_submit():
        try:
            done = checkout_service.session_qr_check_out(db.session, current_user._get_current_object(), token,
                                                         app_qr_secret(), early_ok=form.early.data)
        except DomainError as refusal:
            flash(refusal.message, "error")
        else:
            flash(_said(done), "success")
        return redirect(url_for("worker.checkin"))
    try:
        lesson = checkout_service.session_qr_lesson(db.session, token, app_qr_secret())
    except DomainError as refusal:
        return _refused(refusal)
    return _confirm_check_out(lesson, form, geo=False)


def classroom_check_in(token: str):
    """The view of worker.session_checkin (training.py): the trainee scanned the classroom's rotating
    签到码. The confirm page names the lesson, or says they are checked in already."""
    form = ConfirmForm()
    worker = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            _record, lesson = checkin_service.session_qr_check_in(db.session, worker, token, app_qr_secret())
        except DomainError as refusal:
            flash(refusal.message, "error")
        else:
            flash(f"签到成功：{lesson.training_class.course_name} {lesson.title or ''}".rstrip(), "success")
        return redirect(url_for("worker.checkin"))
    try:
        lesson, record = checkin_service.session_qr_outlook(db.session, worker, token, app_qr_secret())
    except DomainError as refusal:
        return _refused(refusal)
    return render_template("worker/session_scan.html", form=form, word="签到", lesson=lesson, record=record)
