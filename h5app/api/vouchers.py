"""Templates, issuance, vouchers, revocation and certificates: the bureau's and channels' side."""
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..identity import normalize_id_number
from ..models import Institution, Person, Voucher, VoucherTemplate, in_region, region_covers
from ..models.integration import SCOPE_BUREAU, SCOPE_CHANNEL, SCOPE_INSTITUTION
from ..models.vouchers import GENERAL, TEMPLATE_ACTIVE
from ..timeutil import utcnow
from ..vouchers import certificates, issuance, lifecycle, templates
from . import schemas, serializers
from .blueprint import bp
from .errors import not_found
from .registry import endpoint
from .scope import bureau_class, bureau_covers, bureau_template, visible_person, visible_voucher

ANY = (SCOPE_BUREAU, SCOPE_INSTITUTION, SCOPE_CHANNEL)


@endpoint(bp, "GET", "/templates", scopes=ANY, summary="获取培训券模板列表", response=schemas.TemplateList,
          tag="templates")
def list_templates(caller):
    query = select(VoucherTemplate).order_by(VoucherTemplate.id)
    if caller.scope == SCOPE_BUREAU:
        rows = db.session.scalars(query.where(in_region(VoucherTemplate.region_code, caller.code)))
    elif caller.scope == SCOPE_INSTITUTION:
        # The templates in force that a class of this institution may accept.
        region = db.session.scalar(select(Institution.region_code).where(Institution.id == caller.institution_id))
        rows = [t for t in db.session.scalars(query.where(VoucherTemplate.status == TEMPLATE_ACTIVE))
                if region_covers(t.region_code, region)]
    else:
        rows = db.session.scalars(query.where(VoucherTemplate.status == TEMPLATE_ACTIVE,
                                              VoucherTemplate.distribution_mode == GENERAL))
    return {"templates": [serializers.template(t) for t in rows]}


@endpoint(bp, "POST", "/templates", scopes=(SCOPE_BUREAU,), summary="制券：创建培训券模板", body=schemas.TemplateIn,
          response=schemas.TemplateOut, status=201, tag="templates")
def create_template(caller, body):
    template = templates.create_template(db.session, body.model_dump(), caller.actor)
    return serializers.template(template)


@endpoint(bp, "POST", "/templates/{id}/activation", scopes=(SCOPE_BUREAU,),
          summary="券模板生效：草稿生效后不能再修改（同首次发券）；已生效的再次调用原样返回，已关闭的 409，已过领取期或使用期的 422",
          response=schemas.TemplateOut, tag="templates", int_params=("id",))
def activate_template(caller, id):
    return serializers.template(issuance.put_in_force(db.session, bureau_template(caller, id), caller.actor))


@endpoint(bp, "POST", "/templates/{id}/issuances", scopes=(SCOPE_BUREAU,), summary="发券",
          body=schemas.IssuanceIn, response=schemas.IssuanceOut, status=201, tag="templates", int_params=("id",))
def issue(caller, body, id):
    template = bureau_template(caller, id)
    training_class = bureau_class(caller, body.class_id) if body.class_id is not None else None
    report = issuance.issue_to_people(db.session, template, [p.model_dump() for p in body.people], caller.actor,
                                      training_class=training_class)
    if report.done and not isinstance(report.done[0], Voucher):  # directed: (id, person_id, code) rows
        done = db.session.scalars(select(Voucher).where(Voucher.id.in_([row.id for row in report.done]))
                                  .order_by(Voucher.id)).all()
    else:
        done = report.done
    rejected = [{"id_number": who.id_number if isinstance(who, Person) else who["id_number"], "code": code,
                 "message": message} for who, code, message in report.rejected]
    return {"issuance_id": report.issuance.id, "done": [serializers.voucher(v) for v in done], "rejected": rejected}


@endpoint(bp, "GET", "/people/{id_number}/vouchers", scopes=(SCOPE_BUREAU, SCOPE_CHANNEL),
          summary="获取用户培训券信息", response=schemas.PersonVouchers, tag="vouchers")
def person_vouchers(caller, id_number):
    person = db.session.scalar(select(Person).where(Person.id_number == normalize_id_number(id_number)))
    if not visible_person(caller, person):
        raise not_found("未找到该人员")
    vouchers = db.session.scalars(select(Voucher).options(selectinload(Voucher.template))
                                  .where(Voucher.person_id == person.id).order_by(Voucher.id)).all()
    if caller.scope == SCOPE_BUREAU:
        vouchers = [v for v in vouchers if bureau_covers(caller, v.template.region_code)]
    now = utcnow()
    return {"person": serializers.person(person, unmasked=caller.scope == SCOPE_BUREAU),
            "vouchers": [serializers.effective_voucher(v, now) for v in vouchers]}


@endpoint(bp, "GET", "/vouchers/{code}", scopes=(SCOPE_BUREAU, SCOPE_INSTITUTION), summary="获取培训券状态",
          response=schemas.VoucherOut, tag="vouchers")
def voucher_status(caller, code):
    return serializers.effective_voucher(visible_voucher(caller, code), utcnow())


@endpoint(bp, "POST", "/vouchers/revocations", scopes=(SCOPE_BUREAU,), summary="批量作废已领培训券",
          body=schemas.RevocationIn, response=schemas.RevocationOut, tag="vouchers")
def revoke(caller, body):
    report = lifecycle.revoke(db.session, body.codes, body.reason, caller.actor)
    return {"done": report.done,
            "rejected": [{"voucher_code": r["code"], "code": r["error"], "message": r["message"]}
                         for r in report.rejected]}


@endpoint(bp, "POST", "/certificates", scopes=(SCOPE_BUREAU,), summary="添加证书", body=schemas.CertificateIn,
          response=schemas.CertificateOut, status=201, tag="certificates")
def add_certificate(caller, body):
    person = db.session.scalar(select(Person).where(Person.id_number == normalize_id_number(body.id_number)))
    if person is not None and not visible_person(caller, person):
        raise not_found("未找到该人员")
    certificate, person = certificates.record_certificate(db.session, body.model_dump(), caller.actor)
    return {"id": certificate.id, "number": certificate.number, "name": certificate.name,
            "occupation": certificate.occupation, "level": certificate.level,
            "issued_on": certificate.issued_on.isoformat(), "issuer": certificate.issuer,
            "person": serializers.person(person, unmasked=True)}
