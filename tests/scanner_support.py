"""Helpers shared by the scanner tests: a registered scan gun with its token, a claimed voucher."""
import uuid
from datetime import timedelta

from h5app.extensions import db
from h5app.scanning import devices
from h5app.timeutil import utcnow

from . import factories as f


def scan_gun(institution, *, mode="verify", training_class=None, class_session=None, name="前台1号"):
    device, token = devices.register(
        db.session, institution_id=institution.id, name=name, mode=mode,
        class_id=training_class.id if training_class is not None else None,
        session_id=class_session.id if class_session is not None else None,
        actor=f.institution_actor(institution))
    return device, token


def claimed_voucher(owner=None, **values):
    template = values.pop("template", None) or f.template(name="就业技能培训券")
    return f.voucher(template, owner or f.person(name="王建国"), "claimed",
                     expires_at=utcnow() + timedelta(days=10), **values)


def new_key() -> str:
    return uuid.uuid4().hex


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class FlaskTransport:
    """A requests transport adapter that hands each request to the Flask app's test client: the
    bridge's real sender code talks to the real endpoint, in process. `down` makes it act as a
    server that cannot be reached."""

    def __init__(self, app):
        import requests.adapters

        class Adapter(requests.adapters.BaseAdapter):
            def send(inner, request, **kwargs):  # noqa: N805
                return self.send(request)

            def close(inner):  # noqa: N805
                pass

        self.app, self.adapter, self.down, self.calls = app, Adapter(), False, []

    def session(self):
        import requests

        session = requests.Session()
        session.mount("http://bridge.test", self.adapter)
        return session

    def send(self, request):
        import requests
        from urllib.parse import urlsplit

        self.calls.append(request.path_url)
        if self.down:
            raise requests.ConnectionError("connection refused")
        from h5app.extensions import db

        # The bridge's sender runs in its own thread: give it its own app context and session.
        with self.app.app_context():
            answer = self.app.test_client().open(urlsplit(request.url).path, method=request.method,
                                                 data=request.body, headers=dict(request.headers))
            response = requests.Response()
            response.status_code = answer.status_code
            response._content = answer.get_data()
            response.headers.update(dict(answer.headers))
            db.session.remove()
        response.request, response.url = request, request.url
        return response
