"""Managing staff accounts, the same way for an institution's officer (verifiers) and a bureau
supervisor (clerks): a first or reset password is shown once and must be changed at first sign-in;
disabling or resetting signs the account out everywhere; each action is audited."""
from flask import flash, redirect, render_template
from flask_login import current_user
from sqlalchemy import func, select

from .auth.forms import generate_password
from .extensions import db
from .models import StaffUser
from .vouchers import audit


def username_taken(session, username: str) -> bool:
    """Whether an account has this username, whatever the case of its letters: BUREAU_CLERK beside
    bureau_clerk would be two accounts nobody can tell apart."""
    wanted = (username or "").strip().lower()
    return session.scalar(select(StaffUser.id).where(func.lower(StaffUser.username) == wanted).limit(1)) is not None


def find_by_username(session, username: str) -> StaffUser | None:
    """The account signing in, its username typed in any case (an exact match first, for accounts
    made before names were told apart this way)."""
    typed = (username or "").strip()
    return session.scalar(select(StaffUser).where(func.lower(StaffUser.username) == typed.lower())
                          .order_by((StaffUser.username == typed).desc(), StaffUser.id).limit(1))


def hand_over(user: StaffUser, back_url: str):
    """Set a fresh password and render the page that shows it, once, to the person handing it over."""
    password = generate_password()
    user.set_password(password)
    user.must_change_password = True
    return render_template("password_once.html", user=user, password=password, back_url=back_url)


def record(action: str, user: StaffUser) -> None:
    audit.record(db.session, audit.Actor.for_staff(current_user), action, institution_id=user.institution_id,
                 region_code=user.region_code, details={"username": user.username})


def act(user: StaffUser, action: str, back_url: str):
    """disable | enable | reset, committed and audited; the response to send."""
    if action == "reset":
        page = hand_over(user, back_url)
        user.failed_logins, user.locked_until = 0, None
        user.session_epoch = StaffUser.session_epoch + 1  # signed out everywhere
        record("staff.reset_password", user)
        db.session.commit()
        return page
    user.active = action == "enable"
    if not user.active:
        user.session_epoch = StaffUser.session_epoch + 1
    record(f"staff.{action}", user)
    db.session.commit()
    flash(f"已{'启用' if user.active else '停用'} {user.name}", "success")
    return redirect(back_url)
