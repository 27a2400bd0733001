"""Who may see and change what, in one place, so an IDOR hole has one place to be fixed: the role
decorator, and the per-object predicates — an institution owns a class, a lesson, a settlement, a
scan gun, a 补签, a staff account; a bureau's region covers a record; a channel signed a person in.

The predicates answer yes or no and know nothing of the request. Two thin wrappers turn a no into
an answer: the page loaders below abort (404 for an object that is not the user's: its existence is
not theirs to learn; 403 for a wrong role), and api/scope.py raises the API's error. The services
(h5app/vouchers/) check their actor again and raise OutOfScope."""
from functools import wraps

from flask import abort, url_for
from flask_login import current_user, login_required

from .extensions import db
from sqlalchemy import select

from .models import (
    ClassSession, Enrolment, Person, Policy, Region, StaffUser, TrainingClass, region_covers, region_prefix, under_prefix,
)
from .models.people import RECORD_REGION_FIELDS
from .models.staff import BUREAU, OFFICER, VERIFIER, WORKER

HOME_ENDPOINTS = {
    WORKER: "worker.home",
    VERIFIER: "institution.home",
    OFFICER: "institution.home",
    BUREAU: "bureau.home",
}


def home_url(user) -> str:
    return url_for(HOME_ENDPOINTS.get(getattr(user, "role", None), "main.index"))


# Roles --------------------------------------------------------------------------------------------

def has_role(*roles) -> bool:
    return getattr(current_user, "role", None) in roles


def require_role(*roles) -> None:
    """403 unless the signed-in user has one of `roles`."""
    if not has_role(*roles):
        abort(403)


def roles_required(*roles):
    """Signed in with one of `roles`, else the sign-in page (anonymous) or 403 (wrong role)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            require_role(*roles)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def require_supervisor() -> None:
    """403 for a bureau clerk who is not a supervisor (主管)."""
    if not current_user.is_supervisor:
        abort(403)


# Predicates: yes or no, no request in sight --------------------------------------------------------

def institution_owns(institution_id: int | None, obj) -> bool:
    """`obj` is institution `institution_id`'s: anything carrying an institution_id (a class, a
    settlement, a scan gun, a 补签, a staff account, a payee account) — or a lesson, through its class."""
    if isinstance(obj, ClassSession):
        obj = obj.training_class
    owner = getattr(obj, "institution_id", None)
    return institution_id is not None and owner is not None and owner == institution_id


def region_holds_code(region_code: str | None, record_region_code: str | None) -> bool:
    """A bureau of `region_code` may act on what is placed in `record_region_code`: its own region
    or one under it."""
    return bool(region_code) and region_covers(region_code, record_region_code)


def person_in_region(person, region_code: str | None) -> bool:
    """A bureau of `region_code` may see a person whose record places them in its region: any
    region of the record (户籍地, 常住地, 就业地, 参保地, 失业登记地) or the 所在地区."""
    return bool(region_code) and any(
        region_covers(region_code, getattr(person, field, None)) for field in ("region_code", *RECORD_REGION_FIELDS))


def region_holds(region_code: str | None, obj) -> bool:
    """A bureau of `region_code` may act on `obj`: a class by its institution's region, a person by
    any region of their record, anything else (a template, a settlement, a 补签, an institution, a
    task, a staff account) by its own region_code."""
    if obj is None:
        return False
    if isinstance(obj, Person):
        return person_in_region(obj, region_code)
    if isinstance(obj, TrainingClass):
        return region_holds_code(region_code, obj.institution.region_code)
    return region_holds_code(region_code, obj.region_code)


def region_follows(region_code: str | None, policy_id: int | None) -> bool:
    """A region of `region_code`'s (itself or one under it) follows the policy `policy_id`."""
    return bool(region_code) and policy_id is not None and db.session.scalar(
        select(Region.id).where(Region.policy_id == policy_id,
                                under_prefix(Region.code, region_prefix(region_code))).limit(1)) is not None


def channel_signed_in(channel_code: str | None, person) -> bool:
    """The person signed in through channel `channel_code` (their record names it)."""
    return person is not None and channel_code is not None and person.channel_code == channel_code


def person_owns(person_id: int | None, obj) -> bool:
    """`obj` (a voucher, an enrolment …) is the worker `person_id`'s."""
    return obj is not None and person_id is not None and getattr(obj, "person_id", None) == person_id


# Page loaders: the signed-in user's object, or 404 ----------------------------------------------

def require_institution_owns(obj):
    """404, not 403, for another institution's object: its existence is not ours to reveal."""
    if not institution_owns(current_user.institution_id, obj):
        abort(404)
    return obj


def owned(model, object_id: int):
    """The `model` row `object_id` of the signed-in officer's or verifier's institution, or 404."""
    return require_institution_owns(db.session.get(model, object_id))


def owned_verifier(user_id: int) -> StaffUser:
    """A 核券人员 of the officer's institution, or 404 (another institution's, or an officer)."""
    user = owned(StaffUser, user_id)
    if user.role != VERIFIER:
        abort(404)
    return user


def class_enrolment(training_class: TrainingClass, enrolment_id: int):
    """An enrolment of `training_class` (already checked to be the user's), or 404."""
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None or enrolment.class_id != training_class.id:
        abort(404)
    return enrolment


def regional(model, object_id: int):
    """The `model` row `object_id` if the signed-in bureau's region holds it (see region_holds), or 404."""
    obj = db.session.get(model, object_id)
    if not region_holds(current_user.region_code, obj):
        abort(404)
    return obj


def regional_policy(policy_id: int) -> Policy:
    """A policy some region of the signed-in bureau's follows, or 404."""
    if not region_follows(current_user.region_code, policy_id):
        abort(404)
    return db.session.get(Policy, policy_id)


def regional_clerk(user_id: int) -> StaffUser:
    """A 人社部门 account in the supervisor's region other than their own, or 404."""
    user = db.session.get(StaffUser, user_id)
    if user is None or user.role != BUREAU or user.id == current_user.id \
            or not region_holds(current_user.region_code, user):
        abort(404)
    return user


def require_person_owns(obj):
    """The signed-in worker's own object (a voucher by its code), or 404."""
    if not person_owns(current_user.id, obj):
        abort(404)
    return obj
