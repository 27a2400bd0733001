"""就业推荐: tell workers who consented about new jobs in what they trained or are certified in.
Run daily by `flask jobs recommend`; each job is announced to a worker once."""
from datetime import timedelta

from sqlalchemy import select

from .models import Certificate, Enrolment, Job, Notification, Person, TrainingClass
from .models.classes import CLASS_COMPLETED, ENROLLED
from .timeutil import local_today, utcnow


def occupations_of(session, person_id: int) -> set[str]:
    """What a person is qualified in: their certificates' occupations and their completed classes'."""
    certified = session.scalars(select(Certificate.occupation).where(Certificate.person_id == person_id))
    trained = session.scalars(
        select(TrainingClass.occupation).join(Enrolment, Enrolment.class_id == TrainingClass.id)
        .where(Enrolment.person_id == person_id, Enrolment.status == ENROLLED,
               TrainingClass.status == CLASS_COMPLETED)
    )
    return set(certified) | set(trained)


def notify_recommendations(session, *, within_days: int = 7, now=None) -> int:
    now = now or utcnow()
    since = local_today(now) - timedelta(days=within_days)
    jobs = session.scalars(select(Job).where(Job.active.is_(True), Job.posted_on >= since)).all()
    if not jobs:
        return 0
    sent = 0
    for person in session.scalars(select(Person).where(Person.job_consent.is_(True))):
        wanted = occupations_of(session, person.id)
        for job in jobs:
            link = f"/worker/jobs?q={job.title}"
            if job.occupation not in wanted or session.scalar(select(Notification.id).where(
                    Notification.person_id == person.id, Notification.kind == "recommendation",
                    Notification.link == link)):
                continue
            session.add(Notification(person_id=person.id, kind="recommendation", title="为您推荐一个岗位",
                                     body=f"{job.employer}招聘{job.title}，与您的{job.occupation}培训或证书匹配。",
                                     link=link, created_at=now))
            sent += 1
    session.commit()
    return sent
