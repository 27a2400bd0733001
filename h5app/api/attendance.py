"""补签 (attendance corrections) and the study minutes of online classes (issue 19)."""
from ..extensions import db
from ..identity import mask_id_number
from ..models import AttendanceCorrection
from ..models.integration import SCOPE_BUREAU, SCOPE_INSTITUTION
from ..timeutil import iso_local
from ..vouchers import corrections, online, subsidy
from . import schemas, serializers
from .blueprint import bp
from .keys import Caller
from .registry import endpoint
from .scope import bureau_covers, own_class, own_session, visible_correction

INSTITUTION, BUREAU = (SCOPE_INSTITUTION,), (SCOPE_BUREAU,)


def correction_json(correction: AttendanceCorrection, caller: Caller) -> dict:
    return {
        "id": correction.id, "status": correction.status, "session_id": correction.session_id,
        "class_id": correction.class_id, "institution_code": correction.training_class.institution.code,
        "trainee": serializers.person(correction.person, unmasked=bureau_covers(caller, correction.person.region_code)),
        "reason": correction.reason, "evidence_url": correction.evidence_url,
        "has_evidence_photo": correction.evidence_file is not None,
        "requested_at": iso_local(correction.created_at), "requested_by": correction.requested_by,
        "reviewed_at": iso_local(correction.reviewed_at), "reviewed_by": correction.reviewed_by,
        "review_reason": correction.review_reason,
        "attendance_rate": float(subsidy.attendance_rate(db.session, correction.training_class,
                                                         correction.person_id)),
    }


@endpoint(bp, "POST", "/attendance-corrections", scopes=INSTITUTION, summary="申请补签（人社部门审核通过后计入打卡率）",
          body=schemas.CorrectionIn, response=schemas.CorrectionOut, status=201, tag="classes")
def request_correction(caller, body):
    class_session = own_session(caller, body.session_id)
    person = corrections.enrolled_person(db.session, class_session, body.id_number)
    correction = corrections.request_correction(db.session, class_session, person, body.reason, caller.actor,
                                                evidence_url=body.evidence_url)
    return correction_json(correction, caller)


@endpoint(bp, "GET", "/attendance-corrections/{id}", scopes=INSTITUTION + BUREAU, summary="补签申请及审核结果",
          response=schemas.CorrectionOut, tag="classes", int_params=("id",))
def get_correction(caller, id):
    return correction_json(visible_correction(caller, id), caller)


@endpoint(bp, "POST", "/attendance-corrections/{id}/review", scopes=BUREAU, summary="审核补签申请",
          body=schemas.CorrectionReviewIn, response=schemas.CorrectionOut, tag="classes", int_params=("id",))
def review_correction(caller, body, id):
    correction = visible_correction(caller, id)
    corrections.review_correction(db.session, correction, body.approve, body.reason, caller.actor)
    return correction_json(correction, caller)


@endpoint(bp, "POST", "/classes/{id}/study-records", scopes=INSTITUTION,
          summary="报送线上班期的学习时长（全部成功或全部不保存），计入打卡率",
          body=schemas.StudyRecordsIn, response=schemas.StudyRecordsOut, tag="classes", int_params=("id",))
def study_records(caller, body, id):
    training_class = own_class(caller, id)
    rows = [r.model_dump() for r in body.records]
    done = online.record_study(db.session, training_class, rows, caller.actor)
    rates = subsidy.attendance_rates(db.session, training_class, [pid for pid, *_ in done.people])
    return {"class_id": training_class.id, "saved": done.saved, "trainees": [
        {"trainee": {"name": name, "id_number": mask_id_number(number)}, "attendance_rate": float(rates[pid])}
        for pid, name, number in done.people]}
