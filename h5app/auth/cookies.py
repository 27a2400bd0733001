"""The signed-cookie session is for pages. The partner API and the scan-gun endpoint authenticate
by key on every request: they neither read the session cookie nor set one."""
from flask.sessions import SecureCookieSessionInterface

from ..api.blueprint import PREFIX as API_PREFIX, bp as api_bp
from ..scanning.api import PREFIX as SCANNER_PREFIX, bp as scanner_bp

KEY_AUTHENTICATED = frozenset({api_bp.name, scanner_bp.name})  # the partner API and the scan-gun bridge
# Flask opens the session before it matches the URL, so by path: the prefixes of those blueprints.
KEY_AUTHENTICATED_PREFIXES = (API_PREFIX + "/", SCANNER_PREFIX + "/")


class PageSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if request.path.startswith(KEY_AUTHENTICATED_PREFIXES):
            return None  # Flask falls back to its null session: nothing to open, nothing to save
        return super().open_session(app, request)
