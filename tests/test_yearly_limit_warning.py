"""A worker is told before using a voucher online when that use would leave the voucher chosen for
another enrolment unusable this year (绍兴: 每人每年激活使用培训券暂定为1张, seed 003)."""
import re
from datetime import timedelta

from h5app.extensions import db
from h5app.models.classes import DELIVERY_ONLINE
from h5app.models.vouchers import CLAIMED
from h5app.policies import SHAOXING
from h5app.timeutil import utcnow

from . import factories as f

WARNING = "用于本班期后，您报名“低压电工作业培训”时选用的培训券本年度将不能再使用"


def sign_in(client, person):
    with client.session_transaction() as sess:
        sess["_user_id"] = person.get_id()
        sess["_fresh"] = True


def world(uses_per_year_policy=SHAOXING, same_policy=True):
    f.region("330600", "绍兴市", policy_code=uses_per_year_policy)
    school = f.institution(region_code="330600")
    site_class = f.training_class(school, course_name="低压电工作业培训", occupation="电工")
    online_class = f.training_class(school, sessions=0, course_name="电子商务师线上培训", occupation="电子商务师",
                                    level=None, delivery=DELIVERY_ONLINE)
    online_class.sites = []
    worker = f.person(name="王建国", phone="13912345678", insurance_months=48)
    now = utcnow()
    chosen = f.voucher(f.template(uses_per_year_policy, name="就业技能培训券"), worker, CLAIMED,
                       claimed_at=now - timedelta(days=1), expires_at=now + timedelta(days=30))
    other_policy = uses_per_year_policy if same_policy else "default"
    online_voucher = f.voucher(f.template(other_policy, name="重点群体培训抵用券"), worker, CLAIMED,
                               claimed_at=now - timedelta(days=1), expires_at=now + timedelta(days=30))
    f.enrol(site_class, worker, source="self", voucher_id=chosen.id)
    f.enrol(online_class, worker, source="self")
    db.session.commit()
    return worker, online_class, online_voucher


def page_text(client, online_class) -> str:
    return re.sub(r"<[^>]+>", "", client.get(f"/worker/classes/{online_class.id}/use").get_data(as_text=True))


def test_using_a_voucher_online_says_it_would_crowd_out_the_one_chosen_elsewhere(client, session):
    worker, online_class, online_voucher = world()
    sign_in(client, worker)
    assert WARNING in page_text(client, online_class)


def test_no_warning_where_the_policy_sets_no_yearly_limit(client, session):
    worker, online_class, _ = world(uses_per_year_policy="default")
    sign_in(client, worker)
    assert "本年度将不能再使用" not in page_text(client, online_class)


def test_no_warning_when_the_other_voucher_follows_another_policy(client, session):
    worker, online_class, _ = world(same_policy=False)
    sign_in(client, worker)
    assert "本年度将不能再使用" not in page_text(client, online_class)
