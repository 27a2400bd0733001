"""Sign-in pages: staff password login, channel SSO, phone + SMS code with real-name binding."""
import logging
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash

from .. import staffing
from ..access import WORKER, has_role, home_url
from ..extensions import db, limiter
from ..identity import mask_phone
from ..models import Channel, Person, SmsCode, StaffUser
from ..models.people import VIA_SMS, via_sso
from ..people import records as people_records
from ..timeutil import utcnow
from ..vouchers import audit
from . import sms, sso
from .cookies import KEY_AUTHENTICATED
from .forms import BindIdentityForm, ChangePasswordForm, PhoneForm, SmsCodeForm, StaffLoginForm
from .users import STAFF_SIGNED_IN_AT, signed_in_person

bp = Blueprint("auth", __name__)
log = logging.getLogger("h5app.auth")

# A real scrypt hash to compare against when the username does not exist, so a wrong username
# takes as long as a wrong password and does not reveal which accounts exist.
_DUMMY_HASH = (
    "scrypt:32768:8:1$KFoonpP5ArFhoVTQ$01669e3c364e6b6f7f92c71266fe5f06837750e70a65f6d50a1d204cb5c250c8"
    "3123d745fbdb95d357ae8d488f37584ab646dfd99882ac52f8bcc0fe7446bd37"
)


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no '//' or backslash tricks."""
    if not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def _status() -> int:
    """A form page shown again after a POST is a refusal (every success redirects): 400."""
    return 400 if request.method == "POST" else 200


def _start_session(user) -> None:
    # Rotate: nothing from before sign-in survives (a fixed session id or a planted value).
    session.clear()
    session["epoch"] = user.session_epoch or 0
    login_user(user)
    # The CSRF secret is made now, while the session is being written anyway, so that the first
    # form page (the claim confirm page in a rush) need not send a new cookie.
    generate_csrf()
    # Workers stay signed in on their own phone (PERMANENT_SESSION_LIFETIME); staff sessions end
    # with the browser, since front-desk devices are shared, and after STAFF_SESSION_HOURS at most.
    session.permanent = user.role == WORKER
    if user.role != WORKER:
        session[STAFF_SIGNED_IN_AT] = int(time.time())


def _end_sessions(user) -> None:
    """Bump the user's session epoch: every cookie issued so far stops working."""
    user.session_epoch = type(user).session_epoch + 1  # in SQL: two sign-outs at once both count


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    form = StaffLoginForm()
    error = None
    if form.validate_on_submit():
        now = utcnow()
        user = staffing.find_by_username(db.session, form.username.data)
        limit = current_app.config["STAFF_MAX_FAILED_LOGINS"]
        # One message for an unknown user and a wrong password, or the page tells who has an account.
        bad_credentials = f"用户名或密码错误（连续错误{limit}次将锁定{current_app.config['STAFF_LOCKOUT_MINUTES']}分钟）"
        if user is None:
            check_password_hash(_DUMMY_HASH, form.password.data)
            error = bad_credentials
        elif user.locked_until and user.locked_until > now:
            minutes = int((user.locked_until - now).total_seconds() // 60) + 1
            error = f"密码错误次数过多，账户已锁定，请{minutes}分钟后再试"
        elif not user.active:
            error = "该账户已停用，请联系机构专员或管理员"
        elif not user.check_password(form.password.data):
            # Counted in SQL: parallel guesses cannot all write the same count.
            user.failed_logins = StaffUser.failed_logins + 1
            db.session.flush()
            db.session.refresh(user, ["failed_logins"])
            if user.failed_logins >= limit:
                user.locked_until = now + timedelta(minutes=current_app.config["STAFF_LOCKOUT_MINUTES"])
                user.failed_logins = 0
                audit.record(db.session, audit.Actor.system(), "staff.lockout", institution_id=user.institution_id,
                             region_code=user.region_code, details={"username": user.username})
                error = f"密码连续错误{limit}次，账户已锁定{current_app.config['STAFF_LOCKOUT_MINUTES']}分钟"
            else:
                error = bad_credentials
            db.session.commit()
        else:
            user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
            audit.record(db.session, audit.Actor.for_staff(user), "staff.login", institution_id=user.institution_id,
                         region_code=user.region_code)
            db.session.commit()
            _start_session(user)
            return redirect(safe_next(request.args.get("next")) or home_url(user))
    return render_template("auth/login.html", form=form, error=error), _status()


@bp.before_app_request
def require_new_password():
    """A staff account with a handed-over first password must choose its own before anything else.
    (Not asked of the key-authenticated APIs: no signed-in user there, and no user to load.)"""
    if request.blueprint in KEY_AUTHENTICATED:
        return None
    if (getattr(current_user, "must_change_password", False)
            and request.endpoint not in {"auth.change_password", "auth.logout", "static"}):
        return redirect(url_for("auth.change_password"))
    return None


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    if has_role(WORKER):  # a worker signs in by SMS or a channel: no password to change
        abort(404)
    form = ChangePasswordForm()
    error = None
    if form.validate_on_submit():
        if not current_user.check_password(form.current_password.data):
            error = "当前密码不正确"
        else:
            user = current_user._get_current_object()
            user.set_password(form.new_password.data)
            user.must_change_password = False
            _end_sessions(user)  # a cookie copied before the change no longer works
            audit.record(db.session, audit.Actor.for_staff(user), "staff.password",
                         institution_id=user.institution_id, region_code=user.region_code)
            db.session.commit()
            db.session.refresh(user)
            _start_session(user)
            flash("密码已修改", "success")
            return redirect(home_url(current_user))
    return render_template("auth/password.html", form=form, error=error,
                           first=current_user.must_change_password), _status()


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        _end_sessions(signed_in_person() if has_role(WORKER) else current_user._get_current_object())
        db.session.commit()
    logout_user()
    session.clear()
    flash("您已安全退出", "info")
    return redirect(url_for("main.index"))


@bp.route("/sso/<channel_code>")
@limiter.limit("60 per minute")
def sso_login(channel_code):
    channel = db.session.scalar(select(Channel).where(Channel.code == channel_code, Channel.active.is_(True)))
    if channel is None:
        abort(404)
    try:
        data = sso.parse_ticket(channel, request.args.get("ticket", ""))
        sso.consume_nonce(db.session, channel, data["nonce"])
    except sso.TicketError as error:
        db.session.rollback()
        return render_template("auth/sso_error.html", message=error.message, channel=channel), 400
    # Locked on PostgreSQL: the record merge below must not race an import's chunk.
    person = db.session.scalar(select(Person).where(Person.id_number == data["id_number"]).with_for_update())
    created = person is None
    if created:
        person = Person(name=data["name"], id_number=data["id_number"])
        db.session.add(person)
    elif person.name != data["name"]:
        db.session.rollback()
        return render_template("auth/sso_error.html", channel=channel,
                               message="渠道提供的姓名与系统中的实名信息不一致，请联系当地人社部门核实"), 400
    # A person a roster, an import or the API listed is now signed in by its owner, through the channel.
    person.prove_identity(via_sso(channel.code))
    person.channel_code = channel.code
    if data["phone"] and not person.phone and not db.session.scalar(select(Person.id).where(Person.phone == data["phone"])):
        person.phone = data["phone"]
    try:
        db.session.flush()
    except IntegrityError:  # the same person's first sign-in, twice at once: the other one won
        db.session.rollback()
        return redirect(request.full_path)
    # What the channel knows of the insured person (optional ticket fields) updates the record by
    # the same rule as an import (h5app/people/records.py): never over a newer one.
    incoming = sso.ticket_record(data)
    if incoming is not None:
        people_records.apply_to_person(db.session, person, incoming, source="sso", origin=channel.code)
    audit.record(db.session, audit.Actor.for_person(person), "person.sso_login", person_id=person.id,
                 details={"channel": channel.code, "created": created})
    db.session.commit()
    _start_session(person)
    # When the channel last vouched for who this is (its e-SSC sign-in): a worker who signed in
    # through it a moment ago may confirm the use of a voucher for an online class with one tap.
    sso.mark_fresh(session, channel.code)
    return redirect(safe_next(request.args.get("next")) or url_for("worker.home"))


@bp.route("/sms", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def sms_start():
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    form = PhoneForm()
    error = None
    if form.validate_on_submit():
        next_url = safe_next(request.args.get("next"))
        try:
            session["sms_code_id"] = sms.send_code(db.session, form.phone.data)
        except sms.SmsError as exc:
            pending = db.session.get(SmsCode, session.get("sms_code_id") or 0)
            if sms.usable(pending) and pending.phone == form.phone.data:
                # Asked again too soon, but the code already sent still works: back to its box.
                flash("验证码已发送，请输入短信中的6位验证码", "info")
                return redirect(url_for("auth.sms_verify", next=next_url))
            error = exc.message
        else:
            return redirect(url_for("auth.sms_verify", next=next_url))
    return render_template("auth/sms_start.html", form=form, error=error), _status()


@bp.route("/sms/verify", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def sms_verify():
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    code_id = session.get("sms_code_id")
    pending = db.session.get(SmsCode, code_id) if isinstance(code_id, int) else None
    if pending is None:
        flash("请先输入手机号获取验证码", "warning")
        return redirect(url_for("auth.sms_start"))
    form = SmsCodeForm()
    error, dead = None, False
    if form.validate_on_submit():
        try:
            phone = sms.check_code(db.session, code_id, form.code.data)
        except sms.SmsError as exc:
            error, dead = exc.message, exc.final
        else:
            session.pop("sms_code_id", None)
            person = db.session.scalar(select(Person).where(Person.phone == phone))
            next_url = safe_next(request.args.get("next"))
            # A roster, import or API row's phone was typed in by someone else, never proven by its
            # owner: it still needs the one-time real-name binding.
            if person is not None and person.is_real_name and person.identity_proven:
                audit.record(db.session, audit.Actor.for_person(person), "person.sms_login", person_id=person.id)
                db.session.commit()
                _start_session(person)
                return redirect(next_url or url_for("worker.home"))
            session["bind_code_id"] = code_id
            return redirect(url_for("auth.bind_identity", next=next_url))
    return render_template("auth/sms_verify.html", form=form, error=error, dead=dead or not sms.usable(pending),
                           phone=mask_phone(pending.phone)), _status()


MAX_BIND_FAILURES = 5
BIND_REFUSED = ("姓名与身份证号不匹配，或该身份已绑定其他手机号，或已在“智慧人社”等渠道实名认证（请从该渠道的电子社保卡进入）。"
                "如需帮助请联系当地人社部门")


@bp.route("/bind", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def bind_identity():
    """One-time real-name binding of a verified phone to a name and resident ID."""
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    phone = sms.proven_phone(db.session, session.get("bind_code_id"))
    if not phone:
        session.pop("bind_code_id", None)
        flash("请先用手机验证码登录", "warning")
        return redirect(url_for("auth.sms_start"))
    form = BindIdentityForm()
    error = None
    if form.validate_on_submit():
        person = db.session.scalar(select(Person).where(Person.id_number == form.id_number.data))
        # One message for every refusal, so the form cannot be used to learn whose ID exists.
        if person is not None and (
            person.name != form.name.data.strip()
            # A phone its owner proved stays; one a roster, an import or the API listed gives way
            # to the phone just proven by SMS (the record the bureau imported is kept).
            or (person.phone and person.phone != phone and person.identity_proven)
            # An identity a channel verified is reached through the channel, not by knowing a name
            # and an ID number.
            or person.verified_by_channel
        ):
            failures = session.get("bind_failures", 0) + 1
            session["bind_failures"] = failures
            if failures >= MAX_BIND_FAILURES:
                session.pop("bind_code_id", None)
                session.pop("bind_failures", None)
                flash("核对失败次数过多，请重新获取验证码", "warning")
                return redirect(url_for("auth.sms_start"))
            error = BIND_REFUSED
        else:
            holder = db.session.scalar(select(Person).where(Person.phone == phone))
            if holder is not None and holder is not person:
                # Only an unproven (roster) phone can be here; the SMS code just proved who holds it.
                holder.phone = None
                db.session.flush()
            if person is None:
                person = Person(name=form.name.data.strip(), id_number=form.id_number.data)
                db.session.add(person)
            person.phone = phone
            person.prove_identity(VIA_SMS)
            try:
                db.session.flush()
            except IntegrityError:  # a double submit: the first one bound it
                db.session.rollback()
                return redirect(url_for("auth.bind_identity", next=safe_next(request.args.get("next"))))
            audit.record(db.session, audit.Actor.for_person(person), "person.bind_phone", person_id=person.id)
            db.session.commit()
            _start_session(person)
            flash("实名绑定成功", "success")
            return redirect(safe_next(request.args.get("next")) or url_for("worker.home"))
    return render_template("auth/bind.html", form=form, error=error, phone=mask_phone(phone)), _status()
