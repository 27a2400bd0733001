"""Institutions, classes, trainees, verification, look-up, check-in and exam results."""
from datetime import UTC

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from .. import onboarding
from ..desk_outcomes import check_in_result
from ..extensions import db
from ..models import TrainingClass, Voucher
from ..models.integration import SCOPE_BUREAU, SCOPE_INSTITUTION
from ..timeutil import iso_local, utcnow
from ..vouchers import app_qr_secret, checkin, classes, exam_results, payees, roster
from ..vouchers.enrolment import usable_vouchers
from ..vouchers.errors import ValidationFailed
from ..vouchers.verify import verify
from . import schemas, serializers
from .blueprint import bp
from .registry import endpoint
from .scope import bureau_institution, caller_institution, own_class, own_session

INSTITUTION = (SCOPE_INSTITUTION,)


@endpoint(bp, "POST", "/institutions", scopes=(SCOPE_BUREAU,), summary="批量添加培训机构（全部成功或全部不添加）",
          body=schemas.InstitutionsIn, response=schemas.InstitutionsOut, status=201, tag="institutions")
def add_institutions(caller, body):
    rows = []
    for item in body.institutions:
        row = item.model_dump()
        row["sites"] = ";".join(f"{site.lat},{site.lng}" for site in item.sites)
        rows.append(row)
    made = onboarding.onboard(db.session, rows, caller.actor)
    radii = [[site.radius_m for site in item.sites] for item in body.institutions]
    for done, wanted in zip(made, radii, strict=True):
        for site, radius in zip(done.institution.sites, wanted, strict=False):
            site.radius_m = radius
    db.session.commit()
    return {"institutions": [
        {"id": m.institution.id, "code": m.institution.code, "name": m.institution.name,
         "region_code": m.institution.region_code, "officer_username": m.officer.username,
         "officer_password": m.password, "sites": [serializers.site(s) for s in m.institution.sites]} for m in made]}


@endpoint(bp, "PUT", "/institutions/{code}/payee", scopes=(SCOPE_BUREAU,), summary="设置培训机构收款账户（变更已生效的账户须人社部门工作人员确认）",
          body=schemas.PayeeUpdate, response=schemas.InstitutionPayeeOut, tag="institutions")
def set_institution_payee(caller, body, code):
    institution = bureau_institution(caller, code)
    account = payees.change_institution_account(db.session, institution, body.model_dump(), caller.actor)
    return {"code": institution.code, "payee": serializers.payee(account), "status": account.status}


def _utc(moment):
    return moment.astimezone(UTC).replace(tzinfo=None)


@endpoint(bp, "POST", "/classes", scopes=INSTITUTION, summary="创建班期", body=schemas.ClassIn,
          response=schemas.ClassOut, status=201, tag="classes")
def create_class(caller, body):
    values, sessions, site = _class_values(body)
    try:
        training_class = classes.create_class(db.session, caller_institution(caller), values, sessions, caller.actor,
                                              site_ids=[site] if site is not None else None,
                                              teachers=[t.model_dump() for t in body.teachers])
    except ValidationFailed as refusal:
        _blame_site(body, refusal)
        raise
    return serializers.training_class(training_class)


def _class_values(body) -> tuple[dict, list, int | None]:
    """(the class's column values, its lessons in naive UTC, the site given) of a ClassIn."""
    values = body.model_dump(exclude={"sessions", "site_id", "site", "teachers"})
    if values["hours"] is None:
        values.pop("hours")
    return values, [(_utc(s.starts_at), _utc(s.ends_at), s.hours) for s in body.sessions], body.site_given


def _blame_site(body, refusal: ValidationFailed) -> None:
    fields = refusal.details.get("fields") or {}
    if body.site is not None and "site_id" in fields:  # blame the field the caller sent
        fields["site"] = fields.pop("site_id")


@endpoint(bp, "PUT", "/classes/{id}", scopes=INSTITUTION,
          summary="修改班期：课次整体替换；status 不在此修改；已有学员签到、已结业或已取消的不能修改；被退回的开班申请修改后自动重新提交审核",
          body=schemas.ClassIn, response=schemas.ClassOut, tag="classes", int_params=("id",))
def update_class(caller, body, id):
    training_class = own_class(caller, id)
    values, sessions, site = _class_values(body)
    values.pop("status")  # 开放/截止报名 and 开班审核 move the status, not an edit
    try:
        classes.update_class(db.session, training_class, values, sessions, caller.actor,
                             site_ids=[site] if site is not None else None,
                             teachers=[t.model_dump() for t in body.teachers])
    except ValidationFailed as refusal:
        _blame_site(body, refusal)
        raise
    return serializers.training_class(training_class)


@endpoint(bp, "POST", "/classes/{id}/trainees", scopes=INSTITUTION, summary="批量添加培训人员（全部成功或全部不添加）",
          body=schemas.TraineesIn, response=schemas.TraineesOut, status=201, tag="classes", int_params=("id",))
def add_trainees(caller, body, id):
    training_class = own_class(caller, id)
    added = roster.add_trainees(db.session, training_class, [t.model_dump() for t in body.trainees], caller.actor)
    return {"added": len(added), "trainees": [serializers.person(e.person) for e in added]}


@endpoint(bp, "POST", "/verifications", scopes=INSTITUTION, summary="培训券验证扫码", body=schemas.VerificationIn,
          response=schemas.VerificationOut, tag="verification")
def verify_voucher(caller, body):
    # The hot path: the engine reads the class (scope: another institution's is 404), the voucher
    # and its owner in one statement; the answer is built from that reading, with no further query.
    outcome = verify(db.session, qr=body.qr, class_id=body.class_id, actor=caller.actor, qr_secret=app_qr_secret())
    voucher = outcome.voucher
    return {"result": outcome.result, "voucher": serializers.voucher(voucher, caller.code),
            "trainee": serializers.person(voucher.person)}


@endpoint(bp, "POST", "/trainees/lookup", scopes=INSTITUTION, summary="通过二维码获取学员信息", body=schemas.LookupIn,
          response=schemas.LookupOut, tag="verification")
def lookup(caller, body):
    person = checkin.person_from_qr(db.session, body.qr, app_qr_secret())
    now = utcnow()
    classes_here = db.session.scalars(select(TrainingClass).options(joinedload(TrainingClass.institution))
                                      .where(TrainingClass.institution_id == caller.institution_id)).all()
    usable = {}
    for training_class in classes_here:
        for voucher in usable_vouchers(db.session, person.id, training_class, now):
            usable[voucher.id] = voucher
    used_here = db.session.scalars(select(Voucher).where(
        Voucher.person_id == person.id, Voucher.institution_id == caller.institution_id)).all()
    for voucher in used_here:
        usable.setdefault(voucher.id, voucher)
    return {"trainee": serializers.person(person),
            "vouchers": [serializers.effective_voucher(v, now) for _, v in sorted(usable.items())]}


@endpoint(bp, "POST", "/checkins", scopes=INSTITUTION, summary="培训打卡签到（扫码）", body=schemas.CheckinIn,
          response=schemas.CheckinOut, tag="classes")
def scan_check_in(caller, body):
    class_session = own_session(caller, body.session_id)
    now = utcnow()
    record, person = checkin.scan_check_in(db.session, class_session, body.qr, caller.actor, app_qr_secret(),
                                           now=now)
    # A second scan of the lesson answers the first record, saying so: a desk system must not show
    # 签到成功 for a trainee who checked in an hour ago, or who has already left.
    return {"session_id": record.session_id, "class_id": class_session.class_id,
            "trainee": serializers.person(person), "method": record.method, "result": check_in_result(record, now),
            "checked_in_at": iso_local(record.created_at), "checked_out_at": iso_local(record.checked_out_at)}


@endpoint(bp, "POST", "/classes/{id}/results", scopes=INSTITUTION, summary="考核结果（全部成功或全部不保存）",
          body=schemas.ResultsIn, response=schemas.ResultsOut, tag="classes", int_params=("id",))
def record_results(caller, body, id):
    training_class = own_class(caller, id)
    changed = exam_results.results_by_id_number(db.session, training_class, [r.model_dump() for r in body.results],
                                           caller.actor)
    return {"class_id": training_class.id, "changed": changed}


