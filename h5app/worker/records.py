"""证书查询, 就业岗位 (search; recommendations only with consent), 消息, and 我的 (profile, consent,
收款账户)."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select, update

from ..access import WORKER, roles_required
from ..auth.users import signed_in_person
from ..extensions import db
from ..forms import ConfirmForm
from ..models import Certificate, Job, Notification, region_prefix
from ..models.people import RECORD_REGION_FIELDS, RECORD_SOURCES
from ..recommendations import occupations_of
from ..timeutil import utcnow
from ..vouchers import audit, payees
from ..vouchers.errors import ValidationFailed
from .forms import ConsentForm, JobSearchForm, PayeeForm
from .routes import bp, region_names


@bp.route("/certificates")
@roles_required(WORKER)
def certificates():
    rows = db.session.scalars(
        select(Certificate).where(Certificate.person_id == current_user.id).order_by(Certificate.issued_on.desc())
    ).all()
    return render_template("worker/certificates.html", certificates=rows)


@bp.route("/jobs")
@roles_required(WORKER)
def jobs():
    form = JobSearchForm(request.args, meta={"csrf": False})
    query = select(Job).where(Job.active.is_(True)).order_by(Job.posted_on.desc(), Job.id.desc())
    q = form.valid_filters().get("q")
    if q:
        query = query.where(Job.title.contains(q, autoescape=True) | Job.occupation.contains(q, autoescape=True)
                            | Job.employer.contains(q, autoescape=True))
    found = db.session.scalars(query.limit(50)).all()
    recommended = []
    occupations = occupations_of(db.session, current_user.id) if current_user.job_consent else set()
    if occupations:
        recommended = db.session.scalars(
            select(Job).where(Job.active.is_(True), Job.occupation.in_(occupations))
            .order_by(Job.posted_on.desc()).limit(10)
        ).all()
        if current_user.region_code:  # nearby first
            near = region_prefix(current_user.region_code)[:4]
            recommended.sort(key=lambda job: not job.region_code.startswith(near))
    return render_template("worker/jobs.html", form=form, jobs=found, recommended=recommended,
                           occupations=sorted(occupations), regions=region_names(), consent_form=ConfirmForm())


@bp.route("/messages")
@roles_required(WORKER)
def messages():
    rows = db.session.scalars(
        select(Notification).where(Notification.person_id == current_user.id).order_by(Notification.id.desc())
    ).all()
    unread = [n.id for n in rows if n.read_at is None]
    page = render_template("worker/messages.html", messages=rows, unread=set(unread))
    if unread:  # shown once as new, then read
        db.session.execute(update(Notification).where(Notification.id.in_(unread)).values(read_at=utcnow()))
        db.session.commit()
    return page


@bp.route("/me")
@roles_required(WORKER)
def me():
    return render_template("worker/me.html", form=ConfirmForm(), regions=region_names(),
                           record_fields=RECORD_REGION_FIELDS, record_sources=RECORD_SOURCES)


@bp.route("/me/consent", methods=["POST"])
@roles_required(WORKER)
def consent():
    """就业推荐授权: given or withdrawn by the worker, recorded with its time and in the audit log."""
    form = ConsentForm()
    if form.validate_on_submit():
        person = signed_in_person()
        give = form.give.data == "1"
        person.job_consent, person.job_consent_at = give, utcnow()
        audit.record(db.session, audit.Actor.for_person(person), "person.job_consent", person_id=person.id,
                     details={"consent": give})
        db.session.commit()
        flash("已开启岗位推荐" if give else "已关闭岗位推荐，我们不再根据您的培训和证书推荐岗位", "success")
    elif form.errors:
        flash(form.error_text(), "error")
    return redirect(url_for("worker.jobs") if form.back.data == "jobs" else url_for("worker.me"))


@bp.route("/me/payee", methods=["GET", "POST"])
@roles_required(WORKER)
def payee():
    """收款账户: the worker's own bank card, where a subsidy paid to the worker goes. Shown masked only;
    after a save the page is loaded afresh, so the number typed never comes back in the HTML."""
    person = current_user._get_current_object()
    form = PayeeForm(data={"account_name": person.name})
    error = None
    if form.validate_on_submit():
        try:
            payees.set_worker_account(db.session, person, form.values(), audit.Actor.for_person(person))
        except ValidationFailed as refusal:
            error = refusal.message
            form.show(refusal.details.get("fields", {}))
        else:
            flash("收款账户已保存", "success")
            return redirect(url_for("worker.payee"))
    account = payees.active_account(db.session, person_id=person.id)
    return render_template("worker/payee.html", form=form, account=account, error=error,
                           real_name=person.is_real_name), (400 if request.method == "POST" else 200)
