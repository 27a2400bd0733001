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
