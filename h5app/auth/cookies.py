"""The signed-cookie session is for pages. The partner API and the scan-gun endpoint authenticate
by key on every request: they neither read the session cookie nor set one.

A worker's session is permanent (WORKER_SESSION_DAYS from the last visit). Flask would sign and send
the cookie again on every response to keep that window sliding; here it is sent again at most once
a day (and whenever the session changes), which keeps the window sliding to the day and spares every
other page the signing: in a claim rush that is a tenth of a page's work."""
from flask.sessions import SecureCookieSessionInterface

from ..api.blueprint import PREFIX as API_PREFIX, bp as api_bp
from ..scanning.api import PREFIX as SCANNER_PREFIX, bp as scanner_bp
from ..timeutil import local_today

KEY_AUTHENTICATED = frozenset({api_bp.name, scanner_bp.name})  # the partner API and the scan-gun bridge
# Flask opens the session before it matches the URL, so by path: the prefixes of those blueprints.
KEY_AUTHENTICATED_PREFIXES = (API_PREFIX + "/", SCANNER_PREFIX + "/")
REFRESHED_ON = "_refreshed_on"  # the local day the cookie was last sent, as a day number


class PageSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if request.path.startswith(KEY_AUTHENTICATED_PREFIXES):
            return None  # Flask falls back to its null session: nothing to open, nothing to save
        return super().open_session(app, request)

    def should_set_cookie(self, app, session) -> bool:
        if session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]:
            today = local_today().toordinal()
            if session.get(REFRESHED_ON) != today:
                session[REFRESHED_ON] = today  # written into the cookie about to be sent
                return True
        return session.modified
