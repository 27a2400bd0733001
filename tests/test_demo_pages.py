"""After `flask demo`, every main page of every role opens (200) with the demo data: the pages a new
user clicks through first."""
import pytest
from sqlalchemy import func, select

from h5app.demo.seed import seed_demo
from h5app.extensions import db
from h5app.models import (
    ClassSession, Institution, Person, Settlement, StaffUser, TrainingClass, Voucher, VoucherMonthlyStat, VoucherTemplate,
)

from .auth_support import staff_sign_in


@pytest.fixture
def demo():
    seed_demo(db.session)
    return db.session


def test_every_worker_page_opens_for_a_demo_worker(client, demo):
    worker = demo.scalar(select(Person).where(Person.name == "王建国"))
    staff_sign_in(client, worker)
    voucher = demo.scalar(select(Voucher).where(Voucher.person_id == worker.id, Voucher.status == "claimed"))
    training_class = demo.scalar(select(TrainingClass).order_by(TrainingClass.id))
    for url in ["/worker/", "/worker/cards", "/worker/vouchers", f"/worker/vouchers/{voucher.code}",
                "/worker/classes", f"/worker/classes/{training_class.id}", "/worker/checkin", "/worker/qr",
                "/worker/certificates", "/worker/jobs", "/worker/messages", "/worker/me"]:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("username", ["officer3", "verifier3"])
def test_every_institution_page_opens_for_demo_staff(client, demo, username):
    user = demo.scalar(select(StaffUser).where(StaffUser.username == username))
    staff_sign_in(client, user)
    training_class = demo.scalar(select(TrainingClass).where(TrainingClass.institution_id == user.institution_id))
    lesson = demo.scalar(select(ClassSession).where(ClassSession.class_id == training_class.id))
    urls = ["/institution/", "/institution/verify", f"/institution/verify?class_id={training_class.id}",
            f"/institution/classes/{training_class.id}", f"/institution/sessions/{lesson.id}/checkin",
            f"/institution/sessions/{lesson.id}/qr", "/institution/settlements", "/institution/profile"]
    if username.startswith("officer"):
        urls += ["/institution/staff", "/institution/classes/new", f"/institution/classes/{training_class.id}/edit",
                 f"/institution/classes/{training_class.id}/roster", f"/institution/classes/{training_class.id}/results",
                 f"/institution/classes/{training_class.id}/settlement"]
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_every_bureau_page_opens_for_demo_staff(client, demo):
    staff_sign_in(client, demo.scalar(select(StaffUser).where(StaffUser.username == "bureau_clerk")))
    template = demo.scalar(select(VoucherTemplate).order_by(VoucherTemplate.id))
    institution = demo.scalar(select(Institution).order_by(Institution.id))
    for url in ["/bureau/templates", "/bureau/templates/new", f"/bureau/templates/{template.id}", "/bureau/institutions",
                f"/bureau/institutions/{institution.id}", "/bureau/", "/bureau/settlements", "/bureau/settlements?status=paid", "/bureau/issue",
                "/bureau/revoke", "/bureau/audit", "/bureau/statistics", "/bureau/statistics/targets"]:
        assert client.get(url).status_code == 200, url
    assert demo.scalar(select(Settlement)) is None  # nothing to review until an institution applies


def test_the_demo_statistics_open_on_a_past_season_of_claims_and_uses_in_every_district(demo):
    months = demo.execute(select(VoucherMonthlyStat.month, func.sum(VoucherMonthlyStat.claimed),
                                 func.sum(VoucherMonthlyStat.used)).group_by(VoucherMonthlyStat.month)).all()
    assert sum(1 for _, claimed, _ in months if claimed) >= 6
    assert sum(used for _, _, used in months) >= 30
    districts = demo.scalars(select(VoucherMonthlyStat.region_code).where(VoucherMonthlyStat.used > 0).distinct())
    assert set(districts) == {"330602", "330603", "330604", "330681"}


def test_the_demo_has_a_finished_class_ready_for_its_subsidy(client, demo):
    """A new user can walk 结算申请 → 结算审核 → 拨付: officer1's 茶艺师培训 finished last week, its two
    trainees verified, present at every lesson and passed."""
    officer = demo.scalar(select(StaffUser).where(StaffUser.username == "officer1"))
    finished = demo.scalar(select(TrainingClass).where(TrainingClass.course_name == "茶艺师培训"))
    assert finished.is_completed and finished.institution_id == officer.institution_id
    staff_sign_in(client, officer)
    preview = client.get(f"/institution/classes/{finished.id}/settlement").get_data(as_text=True)
    assert preview.count("不符合：") == 0 and preview.count(">符合<") == 2 and "提交结算申请" in preview
    submitted = client.post(f"/institution/classes/{finished.id}/settlement", data={"submit": "提交结算申请"},
                            follow_redirects=True)
    assert "结算申请已提交（2张券）" in submitted.get_data(as_text=True)
