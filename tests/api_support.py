"""Helpers for the partner API tests: keys for each scope and a small world to act on."""
from dataclasses import dataclass

from h5app.api.keys import create_key
from h5app.extensions import db
from h5app.models import Channel

from . import factories as f


def key_for(scope: str, code: str) -> str:
    if scope == "channel" and db.session.query(Channel).filter_by(code=code).one_or_none() is None:
        f.channel(code=code)
        db.session.commit()
    if scope == "bureau":
        f.region(code)
        db.session.commit()
    return create_key(db.session, f"test {scope}", scope, code)[1]


def auth(token: str, **headers) -> dict:
    return {"Authorization": f"Bearer {token}", **headers}


@dataclass
class World:
    institution: object
    other_institution: object
    training_class: object
    other_class: object
    template: object
    person: object
    voucher: object
    bureau_key: str
    institution_key: str
    other_institution_key: str
    foreign_bureau_key: str
    channel_key: str


def world() -> World:
    f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    inst = f.institution(region_code="330602")
    other = f.institution(region_code="330602")
    cls = f.training_class(inst)
    other_cls = f.training_class(other)
    tmpl = f.template()
    person = f.person(channel_code="zhrs")
    voucher = f.voucher(tmpl, person, claimed_at=f.utcnow_plus(days=-1), expires_at=f.utcnow_plus(days=30))
    db.session.commit()
    return World(inst, other, cls, other_cls, tmpl, person, voucher,
                 bureau_key=key_for("bureau", "330600"), institution_key=key_for("institution", inst.code),
                 other_institution_key=key_for("institution", other.code),
                 foreign_bureau_key=key_for("bureau", "500000"), channel_key=key_for("channel", "zhrs"))


def error_code(response) -> str:
    return response.get_json()["error"]["code"]
