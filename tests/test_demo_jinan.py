"""The demo's second city (issue 19): 济南市 under the Shandong policy, its clerk finds a class
waiting in 开班审核 with its plan, teachers and roster, and approving it opens enrolment."""
from sqlalchemy import select

from h5app.demo.seed import seed_demo
from h5app.extensions import db
from h5app.models import Policy, Region, StaffUser, TrainingClass
from h5app.models.classes import CLASS_OPEN, CLASS_PENDING_REVIEW

from .auth_support import staff_sign_in


def test_the_demo_jinan_clerk_reviews_the_waiting_class(client):
    lines = seed_demo(db.session)
    assert any("jinan_clerk" in line for line in lines) and any("jinan_officer" in line for line in lines)
    jinan = db.session.scalar(select(Region).where(Region.code == "370100"))
    assert db.session.get(Policy, jinan.policy_id).class_review_required
    shaoxing = db.session.scalar(select(Region).where(Region.code == "330600"))
    assert not db.session.get(Policy, shaoxing.policy_id).class_review_required  # Shaoxing as it was
    waiting = db.session.scalar(select(TrainingClass).where(TrainingClass.status == CLASS_PENDING_REVIEW))
    assert waiting.course_name == "焊工（四级）培训" and len(waiting.teachers) == 2

    staff_sign_in(client, db.session.scalar(select(StaffUser).where(StaffUser.username == "jinan_clerk")))
    assert "焊工（四级）培训" in client.get("/bureau/classes").get_data(as_text=True)
    page = client.get(f"/bureau/classes/{waiting.id}").get_data(as_text=True)
    assert "花名册（2人）" in page and "3701002019000123" in page
    client.post(f"/bureau/classes/{waiting.id}/approve")
    db.session.expire_all()
    assert db.session.get(TrainingClass, waiting.id).status == CLASS_OPEN


def test_the_shaoxing_clerk_does_not_see_jinans_class(client):
    seed_demo(db.session)
    staff_sign_in(client, db.session.scalar(select(StaffUser).where(StaffUser.username == "bureau_clerk")))
    assert "焊工（四级）培训" not in client.get("/bureau/classes").get_data(as_text=True)
