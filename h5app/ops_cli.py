"""`flask ops …`: what the operators' scripts ask of the app (deploy/restore-drill).

- `flask ops counts` prints, as JSON, what a restore must bring back: vouchers by status, people,
  audit rows, settlements and the migration revision.
- `flask ops smoke --scratch` walks the app over the database as a user would, in-process: the
  health checks, the sign-in page, a bureau's partner-API look-ups of vouchers compared with the
  rows, a worker's 我的卡券 and a bureau clerk's home page. It creates a throwaway API key, so it
  refuses to run without --scratch (meant for the drill's scratch database, never production's)."""
import json
import random

import click
from flask import current_app
from flask.cli import AppGroup
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from .auth.users import session_values
from .extensions import db

ops = AppGroup("ops", help="运维检查 / operations: restore drill counts and smoke journey")


def counts() -> dict:
    from .models import AuditEvent, Person, Settlement, Voucher

    by_status = dict(db.session.execute(select(Voucher.status, func.count()).group_by(Voucher.status)).all())
    try:
        revisions = sorted(db.session.scalars(text("SELECT version_num FROM alembic_version")))
    except Exception:  # a database made by create_all (tests) has no alembic_version
        db.session.rollback()
        revisions = []
    return {
        "vouchers": sum(by_status.values()),
        "vouchers_by_status": dict(sorted(by_status.items())),
        "people": db.session.scalar(select(func.count(Person.id))),
        "audit_events": db.session.scalar(select(func.count(AuditEvent.id))),
        "settlements": db.session.scalar(select(func.count(Settlement.id))),
        "alembic_revisions": revisions,
    }


@ops.command("counts")
def counts_command():
    """数据量（JSON）：培训券按状态、人员、审计记录、结算申请、迁移版本。"""
    click.echo(json.dumps(counts(), ensure_ascii=False, sort_keys=True))


class SmokeFailed(click.ClickException):
    pass


def _expect(response, status: int, what: str, contains: str | None = None) -> None:
    body = response.get_data(as_text=True)
    if response.status_code != status or (contains and contains not in body):
        moved = f" → {response.headers['Location']}" if response.headers.get("Location") else ""
        raise SmokeFailed(f"{what}: HTTP {response.status_code}{moved}, expected {status}"
                          + (f" with “{contains}”" if contains else ""))
    click.echo(f"ok  {what}")


class _Browser(FlaskClient):
    """Speaks HTTPS, as the app's browsers do (production's cookies are Secure), and gives each
    request an app context of its own: under `flask` one is open already, and every request would
    share its `g`, where Flask-Login keeps the signed-in user."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def _client(app):
    client = _Browser(app, app.response_class, use_cookies=True)
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


def _sign_in(client, user) -> None:
    with client.session_transaction(base_url="https://localhost") as session:
        session.update(session_values(user.get_id(), user.session_epoch or 0))


def smoke(sample: int = 20) -> None:
    from .api.keys import create_key
    from .models import Person, StaffUser, Voucher, VoucherTemplate
    from .models.integration import SCOPE_BUREAU
    from .models.staff import BUREAU

    app = current_app._get_current_object()
    client = _client(app)
    _expect(client.get("/healthz"), 200, "GET /healthz")
    _expect(client.get("/readyz"), 200, "GET /readyz (database)")
    _expect(client.get("/login"), 200, "GET /login", "登录")

    vouchers = db.session.execute(select(Voucher.code, Voucher.status, Voucher.person_id, VoucherTemplate.region_code)
                                  .join(VoucherTemplate, Voucher.template_id == VoucherTemplate.id)
                                  .order_by(Voucher.id.desc()).limit(500)).all()
    if not vouchers:
        click.echo("--  no vouchers: API and worker steps skipped")
    else:
        picked = random.Random(0).sample(vouchers, min(sample, len(vouchers)))
        region = picked[0].region_code
        try:
            token = create_key(db.session, "restore drill smoke", SCOPE_BUREAU, region)[1]
        except LookupError:
            raise SmokeFailed(f"the vouchers' region {region} has no row in regions: the restore is incomplete") from None
        headers = {"Authorization": f"Bearer {token}"}
        for row in [row for row in picked if row.region_code == region]:
            response = client.get(f"/api/v1/vouchers/{row.code}", headers=headers)
            answered = (response.get_json(silent=True) or {}).get("status")
            if response.status_code != 200 or answered not in (row.status, "expired"):
                raise SmokeFailed(f"GET /api/v1/vouchers/{row.code}: HTTP {response.status_code} {answered}, "
                                  f"the row says {row.status}")
        click.echo(f"ok  GET /api/v1/vouchers/<code> × {len(picked)} agree with the rows (bureau {region})")
        held = next((row for row in vouchers if row.status == "claimed" and row.person_id), None)
        owner = db.session.get(Person, held.person_id) if held is not None else None
        if owner is not None:
            worker = _client(app)
            _sign_in(worker, owner)
            _expect(worker.get(f"/worker/vouchers/{held.code}"), 200, "worker: GET /worker/vouchers/<code> (我的卡券)",
                    held.code[-4:])
    clerk = db.session.scalar(select(StaffUser).where(StaffUser.role == BUREAU, StaffUser.active.is_(True))
                              .order_by(StaffUser.id).limit(1))
    if clerk is not None:
        staff = _client(app)
        _sign_in(staff, clerk)
        _expect(staff.get("/bureau/"), 200, f"bureau clerk {clerk.username}: GET /bureau/")


@ops.command("smoke")
@click.option("--scratch", is_flag=True, help="确认这是演练用的临时数据库（会新建一个 API 密钥）")
@click.option("--sample", default=20, show_default=True, help="抽查的培训券数")
def smoke_command(scratch, sample):
    """冒烟检查：健康检查、登录页、API 查券与库中一致、劳动者与经办人页面。只用于演练数据库。"""
    if not scratch:
        raise click.ClickException("smoke writes a throwaway API key: run it only on a scratch database, with --scratch")
    smoke(sample)
    click.echo("smoke journey passed")


def register(app) -> None:
    app.cli.add_command(ops)
