"""The signed-cookie session is for pages. The partner API and the scan-gun endpoint authenticate
by key on every request: they neither read the session cookie nor set one."""
from flask.sessions import SecureCookieSessionInterface

KEY_AUTHENTICATED = frozenset({"api", "scanner_api"})  # the partner API's and the scan-gun bridge's blueprints
# Flask opens the session before it matches the URL, so by path: the prefixes of those blueprints.
KEY_AUTHENTICATED_PREFIXES = ("/api/v1/", "/scanner/v1/")


class PageSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if request.path.startswith(KEY_AUTHENTICATED_PREFIXES):
            return None  # Flask falls back to its null session: nothing to open, nothing to save
        return super().open_session(app, request)
