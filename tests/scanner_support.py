"""Helpers shared by the scanner tests: a registered scan gun with its token, a claimed voucher, and
for the bridge run in process against the server a desk with six vouchers, the bridge on a loop://
port (fixtures), fresh QR lines and the stored scans."""
import time
import uuid
from datetime import timedelta

import pytest
import serial
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import ScanRecord
from h5app.scanning import devices
from h5app.timeutil import utcnow
from scanner_bridge import config
from scanner_bridge.bridge import Bridge
from scanner_bridge.sender import Sender

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


def wait_for(condition, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)  # polling interval, not a timing assumption
    raise AssertionError(f"timed out waiting for {what}")


# --- the bridge and the server in process -------------------------------------------------------

@pytest.fixture
def desk():
    institution = f.institution(name="绍兴市技师学院")
    training_class = f.training_class(institution, course_name="低压电工作业培训")
    device, token = scan_gun(institution, training_class=training_class)
    template = f.template(name="就业技能培训券")
    vouchers = [claimed_voucher(owner=f.person(name=f"学员{n}"), template=template) for n in range(6)]
    db.session.commit()
    return device, token, vouchers


@pytest.fixture
def bridge_for(app, tmp_path):
    made = []

    def build(token, **values):
        transport = FlaskTransport(app)
        settings = config.Settings(port="loop://", server="http://bridge.test", token=token,
                                   queue=str(tmp_path / "queue.sqlite3"), retry_max=0.05, ok_bytes="+",
                                   fail_bytes="-", **values)
        port = serial.serial_for_url("loop://", timeout=0.05)
        bridge = Bridge(settings, sender=Sender(settings.server, token, session=transport.session()),
                        open_port=lambda: port)
        made.append(bridge)
        return bridge, port, transport

    yield build
    for bridge in made:
        if not bridge.stop.is_set():
            bridge.shutdown()


def qr_lines(*vouchers) -> list[str]:
    """Fresh QR tokens, and the test's read transaction ended (SQLite: it would block the server)."""
    qrs = [f.qr_for(v) for v in vouchers]
    db.session.rollback()
    return qrs


def stored():
    """(code_hash, result, attempts) of every stored scan, in order. The read's transaction ends at
    once: on SQLite it would otherwise hold the lock the server's writes wait for."""
    rows = db.session.execute(select(ScanRecord.code_hash, ScanRecord.result, ScanRecord.attempts)
                              .order_by(ScanRecord.id)).all()
    db.session.rollback()
    return rows
