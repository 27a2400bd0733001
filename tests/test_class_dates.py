"""A class is planned from today on: a class or a lesson dated in the past (which no one could have
attended, and which would still be verified and paid) is refused on creation; an edit may keep the
lessons the class already had, however old, but add none in the past."""
from datetime import time, timedelta

import pytest
from sqlalchemy import func, select

from h5app.models import TrainingClass
from h5app.timeutil import local_at, local_today
from h5app.vouchers import classes
from h5app.vouchers.errors import ValidationFailed

from . import factories as f
from .api_support import CLASS, auth, key_for


def lesson(day, start=8, end=12) -> dict:
    return {"starts_at": local_at(day, time(start)).strftime("%Y-%m-%dT%H:%M:00+00:00"),
            "ends_at": local_at(day, time(end)).strftime("%Y-%m-%dT%H:%M:00+00:00"), "hours": end - start}


def post_class(client, institution, **change):
    return client.post("/api/v1/classes", json={**CLASS, **change}, headers=auth(key_for("institution",
                                                                                          institution.code)))


def test_a_class_starting_yesterday_is_refused_and_nothing_is_created(client, session):
    school = f.institution()
    session.commit()
    yesterday = local_today() - timedelta(days=1)

    response = post_class(client, school, starts_on=yesterday.isoformat(),
                          ends_on=(yesterday + timedelta(days=5)).isoformat(),
                          sessions=[lesson(yesterday + timedelta(days=3))])

    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]["starts_on"] == "开班日期不能早于今天"
    assert session.scalar(select(func.count(TrainingClass.id))) == 0


def test_a_lesson_that_already_began_is_refused_with_its_time(client, session):
    school = f.institution()
    session.commit()
    today = local_today()

    response = post_class(client, school, starts_on=today.isoformat(), ends_on=(today + timedelta(days=3)).isoformat(),
                          sessions=[lesson(today, 0, 1), lesson(today + timedelta(days=1))])

    fields = response.get_json()["error"]["fields"]
    assert response.status_code == 422 and "已过" in fields["sessions.0.starts_at"]
    assert "sessions.1.starts_at" not in fields


def test_an_edit_keeps_the_lessons_already_held_but_adds_none_in_the_past(session):
    school = f.institution()
    running = f.training_class(school, starts_on=local_today() - timedelta(days=2))
    session.commit()
    values = {"course_name": "电工培训（更名）", "starts_on": running.starts_on, "ends_on": running.ends_on,
              "project_type": running.project_type, "hours": running.hours}
    held = [(s.starts_at, s.ends_at, s.hours) for s in running.sessions]
    actor = f.institution_actor(school)

    classes.update_class(session, running, values, held, actor)
    assert session.get(TrainingClass, running.id).course_name == "电工培训（更名）"

    earlier = held[0][0] + timedelta(hours=6)  # the afternoon of the first day: past, within the dates
    with pytest.raises(ValidationFailed) as refused:
        classes.update_class(session, running, values, [*held, (earlier, earlier + timedelta(hours=2), 2)], actor)
    assert "已过" in refused.value.details["fields"]["sessions.2.starts_at"]
