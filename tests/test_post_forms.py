"""Every POST is read through a form: no view reads request.form (or request.files) itself, and a
form that refuses what was posted says why in Chinese and changes nothing."""
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from h5app.bureau.forms import InstitutionForm
from h5app.bureau.institutions import COLUMNS
from h5app.extensions import db
from h5app.models import AuditEvent, Enrolment, KpiTarget, RegionTarget, SettlementLine
from h5app.timeutil import utcnow

from . import factories as f
from .auth_support import signed_in_worker, staff_sign_in, text_of
from .settlement_support import application, line_id  # noqa: F401  (application is a fixture)

H5APP = Path(__file__).resolve().parents[1] / "h5app"
RAW_READ = re.compile(r"\brequest\.(form|files)\b")
# file → why it may read request.form itself; each entry is a reason, not a convenience.
ALLOWED = {
    "__init__.py": "refuse_nul_bytes looks at every posted value for a NUL byte before any view runs",
}


def test_no_view_reads_posted_fields_itself():
    found = [f"{path.relative_to(H5APP.parent)}:{number}: {line.strip()}"
             for path in sorted(H5APP.rglob("*.py")) if str(path.relative_to(H5APP)) not in ALLOWED
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if RAW_READ.search(line)]
    assert not found, "read these through a form (h5app/forms.py and each area's forms.py):\n" + "\n".join(found)


def test_the_institution_form_has_a_field_for_each_column_of_the_table():
    assert set(COLUMNS) <= set(InstitutionForm.__dict__)


@pytest.fixture
def worker(client):
    return signed_in_worker(client, name="王建国", region_code="330602")


@pytest.mark.parametrize("data", [{"give": "yes"}, {}])
def test_a_consent_neither_given_nor_withdrawn_is_refused(client, worker, data):
    response = client.post("/worker/me/consent", data=data, follow_redirects=True)
    assert "授权选项有误，请重新选择" in text_of(response)
    db.session.refresh(worker)
    assert worker.job_consent is not True and worker.job_consent_at is None
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "person.job_consent")) == 0


def test_a_consent_posted_from_the_jobs_page_goes_back_there(client, worker):
    response = client.post("/worker/me/consent", data={"give": "1", "back": "jobs"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/worker/jobs")


def test_a_voucher_code_no_voucher_has_is_refused_on_the_class_page(client, worker):
    training_class = f.training_class()
    f.voucher(f.template(), worker, "claimed", expires_at=utcnow() + timedelta(days=30))
    db.session.commit()
    response = client.post(f"/worker/classes/{training_class.id}", data={"voucher": "A" * 500})
    assert response.status_code == 400 and "所选培训券不能用于该班期" in text_of(response)
    assert db.session.scalar(select(func.count(Enrolment.id))) == 0


def test_a_review_decision_not_offered_changes_nothing(client, application):  # noqa: F811
    made, (good, weak), clerk, _ = application
    staff_sign_in(client, clerk)
    response = client.post(f"/bureau/settlements/{made.id}", data={
        f"decision-{line_id(made, good)}": "approve", f"decision-{line_id(made, weak)}": "delete"})
    assert response.status_code == 400 and "审核意见有误，请重新选择" in text_of(response)
    assert {line.decision for line in db.session.scalars(select(SettlementLine))} == {"pending"}


@pytest.fixture
def supervisor(client):
    f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    user = f.staff("bureau", is_supervisor=True)
    db.session.commit()
    staff_sign_in(client, user)
    return user


TARGETS = "province,region,issue_target,use_target\n浙江省,越城区,100,10\n".encode()


@pytest.mark.parametrize("year", ["", "二〇二六", "1999", "2101", "9" * 30])
def test_a_target_year_that_is_no_year_is_refused(client, supervisor, year):
    response = client.post("/bureau/statistics/targets", content_type="multipart/form-data",
                           data={"year": year, "file": (io.BytesIO(TARGETS), "targets.csv")})
    assert response.status_code == 400 and "请填写正确的年度" in text_of(response)
    assert db.session.scalar(select(func.count(RegionTarget.id))) == 0


def test_a_target_import_without_a_file_is_refused(client, supervisor):
    response = client.post("/bureau/statistics/targets", data={"year": "2026"})
    assert response.status_code == 400 and "请选择要导入的目标表（CSV 或 Excel）" in text_of(response)
    assert db.session.scalar(select(func.count(KpiTarget.id))) == 0
