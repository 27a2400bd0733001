"""The front door: sends a signed-in user to their home, offers sign-in choices otherwise."""
from flask import Blueprint, redirect, render_template
from flask_login import current_user
from sqlalchemy import select, text

from .access import home_url
from .extensions import db
from .models import Channel

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    channels = db.session.scalars(select(Channel).where(Channel.active.is_(True)).order_by(Channel.id)).all()
    return render_template("index.html", channels=channels)


@bp.route("/healthz")
def healthz():
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}
