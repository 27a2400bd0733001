"""Helpers for the partner API tests: keys for each scope, a small world to act on, the bodies and
calls the tests send (a template, an institution, a class, a certificate, a verification), and a
count of the rows a call may have written."""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from h5app.api.keys import create_key
from h5app.extensions import db
from h5app.models import Channel
from h5app.models.classes import CLASS_COMPLETED
from h5app.timeutil import local_today

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


def count(model, *where) -> int:
    """The rows of `model` (matching `where`): what a refused call must not have added to."""
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def template_body(**values):
    today = local_today()
    return {"name": "电工培训券", "region_code": "330600", "function_mode": "face_value",
            "distribution_mode": "general", "face_value_fen": 50000, "claim_starts_on": str(today),
            "claim_ends_on": str(today + timedelta(days=30)), "valid_days": 90, "stock": 10, **values}


def institution_row(code="3306001", **values):
    return {"code": code, "name": "越城职业培训学校", "region_code": "330602", "address": "越城区人民路1号",
            "phone": "0575-88001234", "type": "private_school", "officer_name": "周专员",
            "officer_id_number": f.valid_id_number(), "sites": [{"lat": 30.0, "lng": 120.58, "radius_m": 500}],
            **values}


def certificate_body(person, number="CERT-MOVED", **values) -> dict:
    return {"id_number": person.id_number, "name": person.name, "number": number, "occupation": "育婴员",
            "level": "四级", "issued_on": local_today().isoformat(), "issuer": "绍兴市职业技能鉴定中心", **values}


CLASS = {"course_name": "低压电工", "occupation": "电工", "level": "四级", "project_type": "employment_skills",
         "starts_on": "2027-12-01", "ends_on": "2027-12-10",
         "sessions": [{"starts_at": "2027-12-01T08:00:00+08:00", "ends_at": "2027-12-01T12:00:00+08:00", "hours": 4},
                      {"starts_at": "2027-12-02T08:00:00+08:00", "ends_at": "2027-12-02T12:00:00+08:00", "hours": 4}]}


def used_and_completed(w, session):
    """The world's voucher used at its class, the trainee present at every session and passed, and
    the class completed (结业): what a settlement application needs."""
    w.voucher.status, w.voucher.class_id, w.voucher.institution_id = "used", w.training_class.id, w.institution.id
    w.voucher.used_at = f.utcnow_plus(days=-1)
    f.enrol(w.training_class, w.person, voucher_id=w.voucher.id)
    for class_session in w.training_class.sessions:
        f.check_in(class_session, w.person)
    f.exam_result(w.training_class, w.person)
    w.training_class.status, w.training_class.completed_at = CLASS_COMPLETED, f.utcnow_plus()
    session.commit()


def verify(client, w, key=None, **body):
    payload = {"qr": f.qr_for(w.voucher), "class_id": w.training_class.id, **body}
    return client.post("/api/v1/verifications", json=payload, headers=auth(key or w.institution_key))
