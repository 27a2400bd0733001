"""Check-in at the institution: scan a trainee's QR for a session (camera or scan gun), show the
rotating session QR for trainees to scan from their phones, and the session's attendance sheet."""
from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..access import OFFICER, VERIFIER, owned, roles_required
from ..desk_outcomes import check_in_result, done, refused, session_label
from ..extensions import db
from ..identity import mask_id_number, mask_name
from ..models import CheckIn, ClassSession, Enrolment
from ..models.classes import ENROLLED
from ..qr import qr_svg
from ..template_filters import local_dt
from ..timeutil import utcnow
from ..vouchers import app_qr_secret, audit, qrtoken
from ..vouchers import checkin as checkin_service
from ..vouchers import presence
from ..vouchers.errors import DomainError
from .forms import ScanForm
from .routes import bp

METHODS = {"location": "定位签到", "scan": "机构扫码", "session_qr": "扫签到码", "correction": "补签（人社审核通过）",
           "online": "线上学习"}


def _my_session(session_id: int) -> ClassSession:
    return owned(ClassSession, session_id)


def _when_and_how(check_in: CheckIn | None) -> str | None:
    if check_in is None:
        return None
    if check_in.method == "correction":  # recorded when the bureau approved, not at the lesson
        return METHODS["correction"]
    if check_in.study_minutes is not None:
        return f"{METHODS['online']} {check_in.study_minutes}分钟"
    return f"{local_dt(check_in.created_at, '%H:%M')} {METHODS.get(check_in.method, '')}"


def attendance_sheet(class_session: ClassSession) -> dict:
    """签到表 of one lesson: the page draws it, and a desk scan answers with it (JSON) so the page
    can redraw it without a reload."""
    enrolled = db.session.scalars(select(Enrolment).options(joinedload(Enrolment.person)).where(
        Enrolment.class_id == class_session.class_id, Enrolment.status == ENROLLED).order_by(Enrolment.id)).all()
    done = {c.person_id: c for c in db.session.scalars(select(CheckIn).where(CheckIn.session_id == class_session.id))}
    by_time = presence.counts_time_present(db.session, class_session.training_class)
    rows = [{"name": mask_name(e.person.name), "id_number": mask_id_number(e.person.id_number),
             "checked_in": _when_and_how(done.get(e.person_id)),
             "checked_out": left_when(presence.Presence(done.get(e.person_id), class_session, by_time))}
            for e in enrolled]
    return {"rows": rows, "checked_in": sum(1 for row in rows if row["checked_in"]), "total": len(rows),
            "checked_out": sum(1 for e in enrolled if (c := done.get(e.person_id)) and c.checked_out_at),
            "by_time": by_time}


CHECKOUT_METHODS = {"location": "定位签退", "scan": "扫码签退", "session_qr": "扫签退码"}


def left_when(at: "presence.Presence") -> str:
    """签退 of one trainee at one lesson, in words: when, how, and (where it counts) the time present."""
    check_in = at.check_in
    if check_in is None or check_in.method not in presence.IN_PERSON:
        return "—"
    if check_in.checked_out_at is None:
        return "未签退（不计课时）" if at.by_time else "未签退"
    words = f"{local_dt(check_in.checked_out_at, '%H:%M')} {CHECKOUT_METHODS.get(check_in.checkout_method, '签退')}"
    return f"{words} · 在场{presence.duration_words(at.span)}" if at.by_time else words


@bp.route("/sessions/<int:session_id>/checkin", methods=["GET", "POST"])
@roles_required(OFFICER, VERIFIER)
def session_checkin(session_id):
    class_session = _my_session(session_id)
    verdict, status = None, 200
    form = ScanForm()
    if form.validate_on_submit():
        now = utcnow()
        try:
            record, person = checkin_service.scan_check_in(
                db.session, class_session, form.qr.data,
                audit.Actor.for_staff(current_user), app_qr_secret(), now=now)
        except DomainError as refusal:
            verdict, status = refused("checkin", refusal.code, refusal.message), refusal.status
        else:
            verdict = done(check_in_result(record, now), session_label(class_session), person)
        if request.accept_mimetypes.best == "application/json":
            return jsonify({**verdict, "sheet": attendance_sheet(class_session)}), status
    return render_template("institution/session_checkin.html", class_session=class_session, verdict=verdict,
                           sheet=attendance_sheet(class_session), now=utcnow()), status


# The classroom screen's two rotating codes: 签到码 as the lesson starts, 签退码 (?for=checkout) as it ends.
SESSION_QRS = {
    "checkin": (qrtoken.KIND_SESSION, "worker.session_checkin", "课堂签到码"),
    "checkout": (qrtoken.KIND_SESSION_OUT, "worker.session_checkout", "课堂签退码"),
}


def _purpose() -> str:
    return "checkout" if request.args.get("for") == "checkout" else "checkin"


def _session_qr(class_session: ClassSession, purpose: str) -> dict:
    kind, endpoint, title = SESSION_QRS[purpose]
    token = qrtoken.sign(app_qr_secret(), kind, class_session.qr_code)
    link = url_for(endpoint, token=token, _external=True)
    return {"svg": qr_svg(link, title=title), "refresh_in": qrtoken.seconds_to_refresh(), "title": title}


@bp.route("/sessions/<int:session_id>/qr")
@roles_required(OFFICER, VERIFIER)
def session_qr(session_id):
    """The rotating session QR, for a screen in the classroom: 签到码, or 签退码 with ?for=checkout."""
    class_session = _my_session(session_id)
    training_class = class_session.training_class
    if not training_class.is_running:  # a code no one may check in with is not put on a classroom screen
        flash(f"班期{training_class.status_label}，不能显示课堂签到码或签退码", "warning")
        return redirect(url_for("institution.class_trainees", class_id=training_class.id))
    purpose = _purpose()
    return render_template("institution/session_qr.html", class_session=class_session, purpose=purpose,
                           qr=_session_qr(class_session, purpose))


@bp.route("/sessions/<int:session_id>/qr.json")
@roles_required(OFFICER, VERIFIER)
def session_qr_json(session_id):
    response = jsonify(_session_qr(_my_session(session_id), _purpose()))
    response.headers["Cache-Control"] = "no-store"
    return response
