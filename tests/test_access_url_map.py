"""Every route whose address names an object (…/<int:class_id>, …/<code>, …/<int:settlement_id>)
shows that it checks the object is the caller's: its view — or a helper of its own area that the
view calls, such as api/scope.py — calls a per-object check of h5app/access.py. The check is read
from the code (the names each function uses), not declared beside it, so a view that stops calling
its check fails here. A route that needs none is listed in NO_OBJECT_CHECK with the reason."""
import inspect
import types

from werkzeug.routing import AnyConverter

from h5app import access
from h5app.extensions import db
from h5app.models import TrainingClass

# Arguments that name no object: the download format (an <any(…)> argument is an action, not an object).
NOT_OBJECT_ARGUMENTS = {"fmt"}

# What access.py holds besides the per-object checks: role checks and the home page.
ROLE_ONLY = {"home_url", "has_role", "require_role", "roles_required", "require_supervisor"}

OBJECT_CHECKS = {
    function: name for name, function in vars(access).items()
    if inspect.isfunction(function) and function.__module__ == access.__name__ and name not in ROLE_ONLY
}

NO_OBJECT_CHECK = {
    "auth.sso_login": "the channel code names who signs the ticket; the ticket's signature is the check (auth/sso.py)",
    "worker.checkin_location": "the service checks in only a worker enrolled in the lesson's class (NotEnrolled)",
    "worker.checkout_location": "the service checks out only a worker enrolled in the lesson's class (NotEnrolled)",
    "worker.session_checkin": "the token is the classroom's signed, rotating QR; the service verifies it and the enrolment",
    "worker.session_checkout": "the token is the classroom's signed, rotating 签退码; the service verifies it and the "
                               "enrolment",
    "worker.class_detail": "a published class is public to every worker (the catalogue); an unpublished one 404s by state",
    "worker.rate": "a published class is public; the service takes a rating only from its trainee (NotEnrolled)",
    "worker.leave": "a published class is public; the service ends only the worker's own enrolment (NotEnrolled)",
    "worker.online_use": "a running online class is public; the view then requires the worker's own enrolment",
    "worker.claim": "a template on offer is public; a directed or others-only one 404s in worker/vouchers.py (_gone)",
}


def _code_objects(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # comprehensions, lambdas, nested functions
            yield from _code_objects(const)


def checks_used(function, area: str, seen=None) -> set[str]:
    """The access checks `function` calls, itself or through functions of `area` (its blueprint's
    package, e.g. h5app.institution) that it calls."""
    seen = set() if seen is None else seen
    if function in seen:
        return set()
    seen.add(function)
    found = set()
    for code in _code_objects(function.__code__):
        for name in code.co_names:
            target = function.__globals__.get(name)
            if target is access:  # access.owned(…): the attribute's name is in co_names too
                found |= {OBJECT_CHECKS[f] for n in code.co_names
                          if inspect.isfunction(f := getattr(access, n, None)) and f in OBJECT_CHECKS}
            elif not inspect.isfunction(target):
                continue
            elif target in OBJECT_CHECKS:
                found.add(OBJECT_CHECKS[target])
            elif target.__module__.startswith(area + "."):
                found |= checks_used(target, area, seen)
    return found


def _object_arguments(rule) -> set[str]:
    return {name for name, converter in rule._converters.items()
            if not isinstance(converter, AnyConverter) and name not in NOT_OBJECT_ARGUMENTS}


def _routes_with_objects(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static" and _object_arguments(rule):
            view = inspect.unwrap(app.view_functions[rule.endpoint])
            yield rule, view, view.__module__.rsplit(".", 1)[0]


def test_every_route_naming_an_object_calls_an_access_check(app):
    unchecked = [f"{rule.rule} ({rule.endpoint}: {view.__module__}.{view.__name__})"
                 for rule, view, area in _routes_with_objects(app)
                 if rule.endpoint not in NO_OBJECT_CHECK and not checks_used(view, area)]
    assert not unchecked, "routes naming an object without a check from h5app/access.py:\n" + "\n".join(unchecked)


def test_routes_listed_without_a_check_exist_and_have_none(app):
    routes = {rule.endpoint: (view, area) for rule, view, area in _routes_with_objects(app)}
    assert set(NO_OBJECT_CHECK) <= set(routes), "listed routes that are gone or name no object"
    checked = [endpoint for endpoint in NO_OBJECT_CHECK if checks_used(*routes[endpoint])]
    assert not checked, f"these now call an access check: take them off NO_OBJECT_CHECK: {checked}"


def _leaky_view(class_id):
    return db.session.get(TrainingClass, class_id)


def _guarded_view(class_id):
    return access.owned(TrainingClass, class_id)


def _view_through_helper(class_id):
    return _guarded_view(class_id)


def test_the_reader_sees_a_missing_check():
    area = __name__.rsplit(".", 1)[0]
    assert checks_used(_leaky_view, area) == set()
    assert checks_used(_guarded_view, area) == {"owned"}
    assert checks_used(_view_through_helper, area) == {"owned"}  # a helper of the same area counts
    assert checks_used(_view_through_helper, "elsewhere") == set()  # one of another area does not

