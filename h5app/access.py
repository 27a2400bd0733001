"""Access checks in one place: role decorators and per-object ownership checks, so an IDOR hole
has exactly one place to be fixed."""
from functools import wraps

from flask import abort, url_for
from flask_login import current_user, login_required

from .models import region_covers

WORKER, BUREAU, OFFICER, VERIFIER = "worker", "bureau", "officer", "verifier"

HOME_ENDPOINTS = {
    WORKER: "worker.home",
    VERIFIER: "institution.home",
    OFFICER: "institution.home",
    BUREAU: "bureau.home",
}


def home_url(user) -> str:
    return url_for(HOME_ENDPOINTS.get(getattr(user, "role", None), "main.index"))


def roles_required(*roles):
    """Signed in with one of `roles`, else the sign-in page (anonymous) or 403 (wrong role)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def require_institution_owns(obj):
    """404, not 403, for another institution's object: its existence is not ours to reveal."""
    institution_id = getattr(obj, "institution_id", None)
    if obj is None or institution_id is None or institution_id != current_user.institution_id:
        abort(404)
    return obj


def require_region_covers(region_code: str | None):
    if not region_code or not region_covers(current_user.region_code or "", region_code):
        abort(404)


def require_person_owns(obj):
    if obj is None or getattr(obj, "person_id", None) != current_user.id:
        abort(404)
    return obj


def person_in_region(person, region_code: str | None) -> bool:
    """A bureau of `region_code` may see a person whose record places them in its region: any
    region of the record (户籍地, 常住地, 就业地, 参保地, 失业登记地) or the 所在地区."""
    from .models.people import RECORD_REGION_FIELDS

    return bool(region_code) and any(
        region_covers(region_code, getattr(person, field, None)) for field in ("region_code", *RECORD_REGION_FIELDS))
