"""The two floors of bench/claim_rush.py: the same page pair as the claim (GET a confirm page, POST
it), with nothing of the claim's own, so that their ratios to the bare endpoint say how much of the
gap is the claim and how much is the request stack underneath it.

* `floor_app()` — the app itself (its hooks, signed session, Flask-Login, CSRF, limiter, metrics)
  with one more page pair: GET draws only the confirm form, POST runs bare's UPDATE + INSERT.
* `framework_app()` — only what the spec asks of any signed-in form, on the fixed stack: Flask's
  signed session cookie, Flask-Login loading the worker (one SELECT, the sign-out epoch checked),
  Flask-WTF's CSRF token on the form and its check on the POST. GET reads the stock and says
  "已领完" as the claim's confirm page does (so it posts no more than the app), POST runs bare's
  UPDATE + INSERT. No app code but the engine's settings: the least a claim through a confirm
  page can cost on Flask, Flask-Login and WTForms, whatever the claim itself does.

Both are served by gunicorn under the same settings as the app and bare, and read the session
cookie the app's SSO sign-in set (same SECRET_KEY)."""
import os
from datetime import timedelta

from sqlalchemy import create_engine, text

from h5app.codes import random_code
from h5app.timeutil import utcnow

GONE = "该培训券已领完"
TAKE = text("UPDATE voucher_templates SET claimed_count = claimed_count + 1 "
            "WHERE id = :template_id AND (stock IS NULL OR claimed_count < stock)")
ADD = text("INSERT INTO vouchers (code, template_id, person_id, status, claimed_at, expires_at, created_at) "
           "VALUES (:code, :template_id, :person_id, 'claimed', :now, :expires_at, :now)")
FORM = ('<form method="post"><input name="csrf_token" type="hidden" value="{{ csrf_token() }}">'
        '<button>确认领取</button></form>')


def floor_app():
    """Served as `bench.claim_floors:floor_app()`: GET /floor/<template> draws only the confirm
    form, POST runs the bare UPDATE + INSERT for the signed-in person."""
    from flask import Blueprint, redirect, request
    from flask_login import current_user, login_required

    from h5app import create_app
    from h5app.extensions import db

    app = create_app()
    form = app.jinja_env.from_string(FORM)  # compiled once, as the app's own templates are
    bp = Blueprint("floor", __name__)

    @bp.route("/floor/<int:template_id>", methods=["GET", "POST"])
    @login_required
    def page(template_id):
        if request.method == "GET":
            db.session.commit()  # the sign-in's read ends before the page is drawn, as the app's claim page does
            return form.render()
        now, code = utcnow(), random_code()
        connection = db.session.connection()
        taken = connection.execute(TAKE, {"template_id": template_id}).rowcount == 1
        if taken:
            connection.execute(ADD, {"code": code, "template_id": template_id, "now": now,
                                     "person_id": current_user.id, "expires_at": now + timedelta(days=90)})
        db.session.commit()
        return redirect(f"/worker/vouchers/{code}") if taken else (GONE, 400)

    app.register_blueprint(bp)
    return app


def framework_app():
    """Served as `bench.claim_floors:framework_app()`: GET /floor/<template> (signed in) reads the
    template's stock and draws the confirm form or "已领完"; POST (CSRF checked) runs the bare
    UPDATE + INSERT for the signed-in person in one transaction."""
    from flask import Flask, redirect, request
    from flask_login import LoginManager, UserMixin, current_user, login_required
    from flask_wtf.csrf import CSRFProtect

    from h5app.database import configure_engine

    engine = create_engine(os.environ["DATABASE_URL"], pool_size=10)
    configure_engine(engine, 30000)
    person = text("SELECT id, session_epoch FROM people WHERE id = :person_id")
    stock_left = text("SELECT stock IS NULL OR claimed_count < stock FROM voucher_templates WHERE id = :template_id")
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    CSRFProtect(app)
    login_manager = LoginManager(app)

    class Worker(UserMixin):
        def __init__(self, row):
            self.id, self.session_epoch = row.id, row.session_epoch

    @login_manager.user_loader
    def load_user(user_id):
        from flask import session

        kind, _, raw = user_id.partition(":")
        if kind != "p" or not raw.isdigit():
            return None
        with engine.connect() as connection:
            row = connection.execute(person, {"person_id": int(raw)}).first()
        if row is None or session.get("epoch", 0) != (row.session_epoch or 0):
            return None
        return Worker(row)

    form = app.jinja_env.from_string(FORM)

    @app.route("/floor/<int:template_id>", methods=["GET", "POST"])
    @login_required
    def page(template_id):
        if request.method == "GET":
            with engine.connect() as connection:
                left = connection.scalar(stock_left, {"template_id": template_id})
            return form.render() if left else GONE
        now, code = utcnow(), random_code()
        with engine.begin() as connection:
            taken = connection.execute(TAKE, {"template_id": template_id}).rowcount == 1
            if taken:
                connection.execute(ADD, {"code": code, "template_id": template_id, "now": now,
                                         "person_id": current_user.id, "expires_at": now + timedelta(days=90)})
        return redirect(f"/worker/vouchers/{code}") if taken else (GONE, 400)

    return app
