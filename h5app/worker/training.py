"""培训报名 (find a class, enrol with a voucher), 打卡签到 (today's sessions, location check-in,
my QR for the institution to scan) and 培训评价 (rate a completed class once)."""
from datetime import timedelta

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from ..access import WORKER, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..models import (
    CheckIn, ClassRating, ClassSession, Enrolment, Institution, TrainingClass, Voucher, region_prefix,
)
from ..models.classes import (
    CLASS_CANCELLED, CLASS_CLOSED, CLASS_COMPLETED, CLASS_OPEN, CLASS_RUNNING, DELIVERY_ONLINE, ENROLLED,
)
from ..models.vouchers import CLAIMED
from ..timeutil import local_today, start_of_local_day, utcnow
from ..vouchers import cancellation, qrtoken, subsidy
from ..vouchers import checkin as checkin_service
from ..vouchers import checkout as checkout_service
from ..vouchers import enrolment as enrolment_service
from ..vouchers.errors import DomainError
from .forms import CheckInForm, ClassSearchForm, EnrolForm, RatingForm
from .checkout import checkout_state, classroom_check_in
from .online import used_here
from .routes import bp, region_names
from .vouchers import qr_state, training_over


def rating_summary(class_ids) -> dict[int, tuple[float, int]]:
    rows = db.session.execute(
        select(ClassRating.class_id, func.avg(ClassRating.stars), func.count(ClassRating.id))
        .where(ClassRating.class_id.in_(list(class_ids) or [0])).group_by(ClassRating.class_id)
    ).all()
    return {class_id: (round(float(avg), 1), count) for class_id, avg, count in rows}


@bp.route("/classes")
@roles_required(WORKER)
def classes():
    form = ClassSearchForm(request.args, meta={"csrf": False})
    names = region_names()
    form.district.choices = [SelectChoice("", "全部地区")] + [
        SelectChoice(code, district_label(code, names)) for code in sorted(names) if len(region_prefix(code)) == 6]
    query = (select(TrainingClass).join(Institution, TrainingClass.institution_id == Institution.id)
             .where(TrainingClass.status == CLASS_OPEN).order_by(TrainingClass.starts_on, TrainingClass.id))
    filters = form.valid_filters()  # a filter that does not validate is left out, its field saying so
    if filters.get("q"):
        q = filters["q"]
        query = query.where(TrainingClass.occupation.contains(q, autoescape=True)
                            | TrainingClass.course_name.contains(q, autoescape=True)
                            | Institution.name.contains(q, autoescape=True))
    if filters.get("district"):
        query = query.where(Institution.region_code == filters["district"])
    if filters.get("starts_after"):
        query = query.where(TrainingClass.starts_on >= filters["starts_after"])
    found = db.session.scalars(query.limit(100)).all()
    ratings = rating_summary(c.id for c in found)
    if filters.get("min_rating"):
        found = [c for c in found if ratings.get(c.id, (0, 0))[0] >= int(filters["min_rating"])]
    return render_template("worker/classes.html", form=form, classes=found, ratings=ratings,
                           places=enrolment_service.places_left(db.session, found))


def district_label(code: str, names) -> str:
    """A district with its city (济南市历下区): the 地区 list holds the districts of every city."""
    name = names[code]
    city = names.get(code[:4] + "00") or names.get(code[:2] + "0000")
    return name if city is None or name.startswith(city) else f"{city}{name}"


def _class_or_404(class_id: int) -> TrainingClass:
    training_class = db.session.get(TrainingClass, class_id)
    # A cancelled class still answers (its former trainees follow a link from their notice) and says so.
    if training_class is None or training_class.status not in (CLASS_OPEN, CLASS_CLOSED, CLASS_COMPLETED,
                                                               CLASS_CANCELLED):
        abort(404)
    return training_class


@bp.route("/classes/<int:class_id>", methods=["GET", "POST"])
@roles_required(WORKER)
def class_detail(class_id):
    now = utcnow()
    training_class = _class_or_404(class_id)
    person = current_user._get_current_object()
    form = EnrolForm()
    error = None
    enrolment = _my_enrolment(class_id, person.id)
    voucher = db.session.get(Voucher, enrolment.voucher_id) if enrolment and enrolment.voucher_id else None
    stale = _stale(voucher, training_class, now)
    if form.validate_on_submit():
        chosen = form.voucher.data
        # Enrolled with a voucher that can no longer pay for the class: the form picks another, or none.
        act = enrolment_service.change_voucher if stale else enrolment_service.enrol
        try:
            act(db.session, person, training_class, voucher_code=chosen)
        except DomainError as refusal:
            error = refusal.message
        else:
            if training_class.is_online and chosen:  # 线上培训: the worker confirms the use themselves
                flash("报名成功。请确认是您本人，培训券即用于本班期", "success")
                return redirect(url_for("worker.online_use", class_id=class_id, voucher=chosen))
            flash(_enrolled_words(stale, chosen), "success")
            return redirect(url_for("worker.class_detail", class_id=class_id))
    elif form.errors:
        error = form.error_text()
    choice = enrolment_service.voucher_choice(db.session, person.id, training_class, now)
    rated = db.session.scalar(select(ClassRating).where(
        ClassRating.class_id == class_id, ClassRating.person_id == person.id))
    over = training_over(None if stale else voucher, training_class)  # not over for a voucher settled elsewhere
    used = used_here(person.id, class_id) if enrolment else None
    return render_template(
        "worker/class_detail.html", training_class=training_class, form=form, error=error, usable=choice.usable,
        blocked=choice.blocked, stale=stale, enrolment=enrolment, rating=rating_summary([class_id]).get(class_id),
        rated=rated, training_over=over, directed=None if over else _directed_for(choice.usable, class_id),
        voucher_to_show=not over and not stale and voucher is not None and voucher.effective_status(now) == CLAIMED,
        online_used=bool(enrolment and training_class.is_online and used),
        may_leave=bool(enrolment and cancellation.closed_class(training_class, "") is None and used is None
                       and cancellation.first_attendance(db.session, training_class, person.id) is None),
        rating_form=RatingForm(), places=enrolment_service.places_left(db.session, [training_class]).get(class_id),
        attendance=subsidy.attendance_rate(db.session, training_class, person.id) if enrolment else None,
    ), (400 if error else 200)


def _my_enrolment(class_id: int, person_id: int) -> Enrolment | None:
    return db.session.scalar(select(Enrolment).where(
        Enrolment.class_id == class_id, Enrolment.person_id == person_id, Enrolment.status == ENROLLED))


def _stale(voucher: Voucher | None, training_class: TrainingClass, now) -> str | None:
    """Why the voucher my enrolment chose can no longer pay for this class, while it runs."""
    if voucher is None or training_class.status not in CLASS_RUNNING:
        return None
    return enrolment_service.chosen_voucher_problem(db.session, voucher, training_class, now)


def _enrolled_words(stale: str | None, chosen: str | None) -> str:
    if not stale:
        return "报名成功，请按时参加培训"
    return "已改用所选培训券，到场后请出示培训券二维码验券" if chosen else "已改为不使用培训券参加本班期"


def _directed_for(usable: list[Voucher], class_id: int) -> Voucher | None:
    """The directed voucher issued to me for this class (定向券), while it waits to be verified."""
    return next((v for v in usable if v.bound_class_id == class_id), None)


@bp.route("/classes/<int:class_id>/leave", methods=["POST"])
@roles_required(WORKER)
def leave(class_id):
    """退出报名: the worker's own, before their voucher is verified and before they attend."""
    training_class = _class_or_404(class_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        cancellation.leave(db.session, current_user._get_current_object(), training_class)
    except DomainError as refusal:
        flash(refusal.message, "error")
    else:
        flash("已退出报名。您选用的培训券仍在“我的卡券”中，可报名其他班期使用", "success")
    return redirect(url_for("worker.class_detail", class_id=class_id))


@bp.route("/classes/<int:class_id>/rating", methods=["POST"])
@roles_required(WORKER)
def rate(class_id):
    training_class = _class_or_404(class_id)
    form = RatingForm()
    if not form.validate_on_submit():
        flash(form.error_text(), "error")
        return redirect(url_for("worker.class_detail", class_id=class_id))
    try:
        enrolment_service.rate_class(db.session, current_user._get_current_object(), training_class,
                                     int(form.stars.data), form.comment.data)
    except DomainError as refusal:
        flash(refusal.message, "error")
    else:
        flash("感谢您的评价", "success")
    return redirect(url_for("worker.class_detail", class_id=class_id))


@bp.route("/ratings")
@roles_required(WORKER)
def ratings():
    """培训评价 from 我的: the classes I am enrolled in — completed ones still to rate first, then those
    rated, then those not yet completed (rated once they complete)."""
    my_classes = db.session.scalars(
        select(TrainingClass).join(Enrolment, Enrolment.class_id == TrainingClass.id)
        .where(Enrolment.person_id == current_user.id, Enrolment.status == ENROLLED)
        .order_by(TrainingClass.ends_on.desc(), TrainingClass.id.desc())
    ).all()
    given = {rating.class_id: rating for rating in db.session.scalars(
        select(ClassRating).where(ClassRating.person_id == current_user.id))}
    my_classes.sort(key=lambda c: (not c.is_completed, c.id in given))  # stable: newest first within
    return render_template("worker/ratings.html", classes=my_classes, given=given)


@bp.route("/checkin")
@roles_required(WORKER)
def checkin():
    """Today's sessions of my classes, each with its check-in state: those held today, and an
    evening lesson one may still check out of after 00:00 (running, or ended under an hour ago)."""
    today = local_today()
    start, end = start_of_local_day(today), start_of_local_day(today + timedelta(days=1))
    sessions = db.session.scalars(
        select(ClassSession).join(Enrolment, Enrolment.class_id == ClassSession.class_id)
        .join(TrainingClass, TrainingClass.id == ClassSession.class_id)
        .where(Enrolment.person_id == current_user.id, Enrolment.status == ENROLLED,
               TrainingClass.status.in_(CLASS_RUNNING), TrainingClass.delivery != DELIVERY_ONLINE,
               ClassSession.ends_at > start - checkout_service.LATE, ClassSession.starts_at < end)
        .order_by(ClassSession.starts_at)
    ).all()
    done = set(db.session.scalars(
        select(CheckIn.session_id).where(CheckIn.person_id == current_user.id)))
    my_classes = db.session.scalars(
        select(TrainingClass).join(Enrolment, Enrolment.class_id == TrainingClass.id)
        .where(Enrolment.person_id == current_user.id, Enrolment.status == ENROLLED)
        .order_by(TrainingClass.starts_on.desc())
    ).all()
    rates = {c.id: subsidy.attendance_rate(db.session, c, current_user.id) for c in my_classes}
    return render_template("worker/checkin.html", sessions=sessions, done=done,
                           my_classes=my_classes, rates=rates, today=today, **checkout_state(sessions))


@bp.route("/checkin/<int:session_id>", methods=["POST"])
@roles_required(WORKER)
def checkin_location(session_id):
    class_session = db.get_or_404(ClassSession, session_id)
    form = CheckInForm()
    if not form.validate_on_submit():
        flash("没有拿到您的位置：请允许浏览器使用定位后重试，或请培训机构扫码签到", "error")
        return redirect(url_for("worker.checkin"))
    try:
        checkin_service.location_check_in(db.session, current_user._get_current_object(), class_session,
                                          form.lat.data, form.lng.data)
    except DomainError as refusal:
        flash(refusal.message, "error")
    else:
        flash("签到成功", "success")
    return redirect(url_for("worker.checkin"))


@bp.route("/qr")
@roles_required(WORKER)
def my_qr():
    """我的二维码: for the institution to scan at check-in when location does not work."""
    return render_template("worker/my_qr.html", qr=qr_state(qrtoken.KIND_PERSON, current_user.qr_code, "我的签到二维码"))


@bp.route("/qr.json")
@roles_required(WORKER)
def my_qr_json():
    response = jsonify(qr_state(qrtoken.KIND_PERSON, current_user.qr_code, "我的签到二维码"))
    response.headers["Cache-Control"] = "no-store"
    return response



@bp.route("/checkin/scan/<token>", methods=["GET", "POST"])
@roles_required(WORKER)
def session_checkin(token):
    """The trainee scanned the classroom's rotating check-in QR: a confirm page naming the lesson."""
    return classroom_check_in(token)
