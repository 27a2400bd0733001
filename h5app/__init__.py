"""职业培训券 — the vocational-training voucher system. `create_app` builds the Flask app."""
from pathlib import Path

from flask import Flask, abort, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from . import config as config_module
from .extensions import csrf, db, limiter, login_manager, migrate
from .ids import MAX_ID

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.update(config_module.from_environment())
    if config:
        app.config.update(config)
    config_module.check(app.config)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    register_proxy_fix(app)
    register_logging(app)
    register_request_guards(app)
    register_extensions(app)
    register_operations(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_cli(app)
    register_api(app)
    register_static(app)
    return app


def register_proxy_fix(app: Flask) -> None:
    """Behind nginx every request comes from nginx's address: take the client's address (and
    scheme) from the headers the configured number of proxies set, so rate limits count clients."""
    x_for, x_proto = app.config["PROXY_FIX_X_FOR"], app.config["PROXY_FIX_X_PROTO"]
    if x_for or x_proto:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=x_for, x_proto=x_proto)


def register_logging(app: Flask) -> None:
    """No full ID number or phone reaches a log line written through Flask's handler."""
    from flask.logging import default_handler

    from .identity import MaskingFilter

    if not any(isinstance(f, MaskingFilter) for f in default_handler.filters):
        default_handler.addFilter(MaskingFilter())
    if app.config["LOG_FORMAT"] == "json":  # under gunicorn its own handler does this (gunicorn.conf.py)
        from .logs import formatter

        default_handler.setFormatter(formatter("json"))


class DatabaseId(IntegerConverter):
    """`<int:…>` in every URL: an id beyond a database integer cannot exist, so it is a 404 before
    it reaches the driver (SQLite raises OverflowError on a 64-bit overflow, PostgreSQL an error)."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):  # noqa: A002 (Werkzeug's names)
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def register_request_guards(app: Flask) -> None:
    app.url_map.converters["int"] = DatabaseId  # before any blueprint adds its rules

    @app.before_request
    def refuse_nul_bytes():
        # A NUL byte is never meaningful input, and PostgreSQL's driver refuses it with an error
        # that would otherwise surface as a 500.
        # The query string is checked as sent: %00 is the only way a NUL reaches request.args.
        if "\x00" in request.path or b"%00" in request.query_string or b"\x00" in request.query_string:
            abort(400)
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") and any(
                "\x00" in value for value in (*request.form.keys(), *request.form.values())):
            abort(400)

    @app.after_request
    def security_headers(response):
        present = {name.lower() for name in response.headers.keys()}  # a view's own choice stands
        response.headers.extend([(name, value) for lower, name, value in SECURITY_HEADERS if lower not in present])
        return response


# Pages load nothing from another host and are never framed; an SSO ticket or a QR token in a URL
# does not leak to another site through the Referer header. Nothing the app draws is kept by the
# browser or a proxy: every answer is someone's data as it is now (a worker's 卡券中心 and its stock,
# a voucher after sign-out on a shared phone); static files are WhiteNoise's, with their own headers.
SECURITY_HEADERS = tuple((name.lower(), name, value) for name, value in (
    ("Cache-Control", "no-store"),
    ("Content-Security-Policy",
     "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; "
     "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    ("Referrer-Policy", "same-origin"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
))


def register_extensions(app: Flask) -> None:
    from .database import configure_engine

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    # 'basic', not 'strong': WeChat puts the network type in its user agent, and 'strong' would
    # sign a worker out the moment Wi-Fi turns to 4G.
    login_manager.session_protection = "basic"
    login_manager.login_view = "auth.login"
    # A worker whose session ran out has no staff password: send them to the phone sign-in.
    login_manager.blueprint_login_views = {"worker": "auth.sms_start"}
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "warning"

    from .auth.cookies import PageSessionInterface
    from .auth.users import load_user

    login_manager.user_loader(load_user)
    app.session_interface = PageSessionInterface()


def register_operations(app: Flask) -> None:
    """What the production topology watches (deploy/): /healthz and /readyz, Prometheus /metrics."""
    from . import metrics
    from .health import bp as health_bp
    from .ops_cli import register as register_ops_cli

    app.register_blueprint(health_bp)
    metrics.register(app)
    register_ops_cli(app)


def register_blueprints(app: Flask) -> None:
    from .auth.routes import bp as auth_bp
    from .bureau.routes import bp as bureau_bp
    from .demo.routes import bp as demo_bp
    from .institution.routes import bp as institution_bp
    from .main import bp as main_bp
    from .worker.routes import bp as worker_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(worker_bp, url_prefix="/worker")
    app.register_blueprint(institution_bp, url_prefix="/institution")
    app.register_blueprint(bureau_bp, url_prefix="/bureau")
    if app.config["DEMO_MODE"]:
        app.register_blueprint(demo_bp, url_prefix="/demo")

    # Scanner bridge (issue 7): the endpoint scan guns post to, and the scan station pages.
    from .scanning.api import bp as scanner_api_bp
    from .scanning.station import bp as scan_station_bp

    app.register_blueprint(scanner_api_bp)
    app.register_blueprint(scan_station_bp, url_prefix="/institution/scanners")


ERROR_PAGES = {
    400: "请求有误",
    403: "没有权限",
    404: "页面不存在",
    405: "不支持的操作",
    409: "页面内容已变化",  # abort(409): the object changed since the page was shown (closed, cancelled …)
    413: "上传的文件太大",
    429: "操作太频繁",
    500: "系统繁忙",
}


def register_errorhandlers(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    from .vouchers.errors import DomainError

    def render_error(error):
        code = getattr(error, "code", 500) or 500
        if code not in ERROR_PAGES:
            code = 500
        return render_template("errors/error.html", code=code, title=ERROR_PAGES[code]), code

    for code in ERROR_PAGES:
        app.register_error_handler(code, render_error)

    @app.errorhandler(DomainError)
    def domain_error(error):
        # A view that let a rule's refusal through still shows the rule's own words, not a 500.
        return (
            render_template("errors/error.html", code=error.status, title="无法完成操作", message=error.message),
            error.status,
        )

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return (
            render_template(
                "errors/error.html", code=400, title="页面已过期",
                message="页面停留太久或已在别处登录，请返回上一页刷新后重试。",
            ),
            400,
        )


def register_template_helpers(app: Flask) -> None:
    from . import template_filters

    app.jinja_env.filters.update(template_filters.FILTERS)
    app.jinja_env.globals.update(template_filters.GLOBALS)


def register_cli(app: Flask) -> None:
    from .cli import register

    register(app)


def register_api(app: Flask) -> None:
    """The partner API (/api/v1): its blueprint, JSON errors under its prefix, its rate limit."""
    from .api import register

    register(app)


def register_static(app: Flask) -> None:
    """WhiteNoise serves static/: content-hashed names in the pages, gzip, a year's cache."""
    from .static_files import register

    register(app)
