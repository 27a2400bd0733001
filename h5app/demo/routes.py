"""The demo-only ticket page: plays the part of a channel app (智慧人社 …) so anyone can sign in
as a demo worker. Registered only when DEMO_MODE is on; never in production."""
import secrets

from flask import Blueprint, abort, redirect, render_template, request, url_for
from sqlalchemy import select
from wtforms import SelectField, SubmitField

from ..auth.routes import safe_next
from ..auth.sso import mint_ticket
from ..extensions import db
from ..forms import Form
from ..identity import mask_id_number
from ..models import Channel, Person
from .seed import WORKERS

bp = Blueprint("demo", __name__)


class TicketForm(Form):
    channel = SelectField("渠道")
    person = SelectField("以哪位劳动者身份进入")
    submit = SubmitField("生成登录凭证并进入")


@bp.route("/tickets", methods=["GET", "POST"])
def tickets():
    channels = db.session.scalars(select(Channel).where(Channel.active.is_(True)).order_by(Channel.id)).all()
    people = db.session.scalars(
        select(Person).where(Person.verified_via.is_not(None)).order_by(Person.id).limit(50)
    ).all()
    form = TicketForm()
    form.channel.choices = [(c.code, c.name) for c in channels]
    # Two people may share a name (the seed's 张伟 and one of the past season's): the masked ID tells them apart.
    form.person.choices = [
        (str(p.id), f"{p.name} · {mask_id_number(p.id_number)}（{'、'.join(p.group_labels) or '无重点群体'}）")
        for p in people]
    if form.validate_on_submit():
        channel = next((c for c in channels if c.code == form.channel.data), None)
        person = next((p for p in people if str(p.id) == form.person.data), None)
        if channel is None or person is None:
            abort(400)
        ticket = mint_ticket(channel.secret, id_number=person.id_number, name=person.name, phone=person.phone or "",
                             nonce=secrets.token_hex(12), region_code=person.region_code, groups=person.groups,
                             insurance_months=person.insurance_months)
        # Back where the worker came from (e.g. to confirm an online class's voucher by a fresh sign-in).
        back = safe_next(request.args.get("next"))
        return redirect(url_for("auth.sso_login", channel_code=channel.code, ticket=ticket, next=back))
    return render_template("demo/tickets.html", form=form, has_data=bool(channels and people),
                           named=min(len(WORKERS), len(people)), listed=len(people))
