"""Settings, read from the environment. Production refuses to start without its secrets."""
import os
from datetime import timedelta
from pathlib import Path

from . import rate_storage

BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    pass


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _development_secret() -> str:
    """Development only: a random key kept in instance/, so every gunicorn worker (and a restart)
    signs sessions with the same key. Production never reaches this: it demands SECRET_KEY."""
    path = BASE_DIR / "instance" / "dev-secret-key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(os.urandom(32).hex())
    return path.read_text().strip()


DEVELOPMENT, PRODUCTION = "development", "production"
# What an SMS gateway backend needs (SMS_BACKEND=aliyun or tencent); SMS_APP_ID is Tencent's only.
SMS_GATEWAY_SETTINGS = ("SMS_ACCESS_KEY_ID", "SMS_ACCESS_KEY_SECRET", "SMS_SIGN_NAME", "SMS_TEMPLATE_ID",
                        "SMS_APP_ID", "SMS_REGION", "SMS_ENDPOINT")
SMS_GATEWAYS = ("aliyun", "tencent")
SMS_BACKEND_NAMES = ("console", "none", *SMS_GATEWAYS)
LOG_FORMATS = ("plain", "json")
PER_PROCESS_STORES = (f"{rate_storage.SCHEME}://", "memory://")


def from_environment() -> dict:
    """The settings the environment gives. Nothing is refused here: `check` does that once the
    caller's own config (tests, benchmarks) has been applied on top."""
    env = os.environ.get("H5APP_ENV", PRODUCTION)  # fail closed: development must be asked for
    development = env == DEVELOPMENT
    values = {
        "ENV_NAME": env,
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL"),
        "QR_SECRET": os.environ.get("QR_SECRET") or None,
        # The ticket-minting page signs anyone in: only where someone asked for it.
        "DEMO_MODE": _bool("DEMO_MODE", development),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", env == PRODUCTION),
        "PERMANENT_SESSION_LIFETIME": timedelta(days=int(os.environ.get("WORKER_SESSION_DAYS", "7"))),
        # A staff sign-in lasts this long, however the cookie was kept: a front-desk phone or a
        # clerk's PC is shared, and a copied cookie must not outlive the working day.
        "STAFF_SESSION_HOURS": int(os.environ.get("STAFF_SESSION_HOURS", "12")),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session; a worker may keep a page open for long
        "WTF_I18N_ENABLED": False,  # WTForms' own zh catalogue (forms.Form); Flask-WTF's needs Flask-Babel
        # The console backend writes codes to the log: development only. Production has no SMS
        # sign-in until a gateway backend is configured.
        "SMS_BACKEND": os.environ.get("SMS_BACKEND", "console" if development else "none"),
        "STAFF_MAX_FAILED_LOGINS": int(os.environ.get("STAFF_MAX_FAILED_LOGINS", "5")),
        "STAFF_LOCKOUT_MINUTES": int(os.environ.get("STAFF_LOCKOUT_MINUTES", "15")),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", f"{rate_storage.SCHEME}://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        "SQLITE_BUSY_TIMEOUT_MS": int(os.environ.get("SQLITE_BUSY_TIMEOUT_MS", "30000")),
        # Claims of one template written at once (h5app/admission.py); past it a claim is refused at
        # once with 503 and Retry-After. Counted in CLAIM_ADMISSION_STORAGE_URI, else in
        # RATELIMIT_STORAGE_URI's Redis (shared by all instances), else in each process's memory.
        "CLAIM_ADMISSION_LIMIT": int(os.environ.get("CLAIM_ADMISSION_LIMIT", "8")),
        "CLAIM_ADMISSION_RETRY_AFTER": int(os.environ.get("CLAIM_ADMISSION_RETRY_AFTER", "2")),
        "CLAIM_ADMISSION_STORAGE_URI": os.environ.get("CLAIM_ADMISSION_STORAGE_URI") or None,
        # How many reverse proxies in front of the app set X-Forwarded-For / X-Forwarded-Proto. 0 (no
        # proxy): the headers are ignored, since any client can send them.
        "PROXY_FIX_X_FOR": int(os.environ.get("PROXY_FIX_X_FOR", "0")),
        "PROXY_FIX_X_PROTO": int(os.environ.get("PROXY_FIX_X_PROTO", "0")),
        # Production topology (deploy/, README "Production"): how many app instances share the
        # limits, psycopg's prepared statements (off behind PgBouncer in transaction mode), metrics
        # at /metrics, JSON log lines, and the SMS gateway's account (h5app/auth/sms_gateways.py).
        "H5APP_INSTANCES": int(os.environ.get("H5APP_INSTANCES", "1")),
        "DATABASE_PREPARED_STATEMENTS": _bool("DATABASE_PREPARED_STATEMENTS", True),
        "METRICS_ENABLED": _bool("METRICS_ENABLED", True),
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "plain"),
        **{name: os.environ.get(name) or None for name in SMS_GATEWAY_SETTINGS},
        "SMS_TEMPLATE_PARAMS": os.environ.get("SMS_TEMPLATE_PARAMS") or None,
        "SMS_TIMEOUT_SECONDS": float(os.environ.get("SMS_TIMEOUT_SECONDS", "5")),
        # The largest request body (uploads: rosters, 补签 photos), past which a page answers 413 in
        # Chinese; a photo has its own, smaller limit (h5app/evidence.py) with its own message.
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_UPLOAD_MB", "32")) * 1024 * 1024,
        # 补签 photos (h5app/evidence.py); default instance/evidence. Several instances share one folder.
        "EVIDENCE_DIR": os.environ.get("EVIDENCE_DIR") or None,
        # Background tasks (imports, population issuance): a running task not heard from for this
        # long is shown as interrupted (its process died) and may be submitted again.
        "TASKS_INLINE": False,
        "TASK_STALE_SECONDS": int(os.environ.get("TASK_STALE_SECONDS", "300")),
    }
    return values


def check(config) -> None:
    """Refuse to run production without its secrets; fill development's gaps with safe local values."""
    if config["ENV_NAME"] == PRODUCTION:
        missing = [name for name, key in (("SECRET_KEY", "SECRET_KEY"), ("DATABASE_URL", "SQLALCHEMY_DATABASE_URI"))
                   if not config.get(key)]
        if missing:
            raise ConfigError(
                "生产环境缺少必需的环境变量 / production start refused, missing: " + ", ".join(missing)
                + "（本地演示请用 scripts/demo，或设置 H5APP_ENV=development）"
            )
        if len(config["SECRET_KEY"]) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
        if config["SMS_BACKEND"] == "console":
            raise ConfigError("SMS_BACKEND=console writes login codes to the log; not in production")
    _check_sms(config)
    if config["LOG_FORMAT"] not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT: plain or json, not {config['LOG_FORMAT']}")
    if config["H5APP_INSTANCES"] < 1:
        raise ConfigError(f"H5APP_INSTANCES counts the app instances: 1 or more, not {config['H5APP_INSTANCES']}")
    for name in ("CLAIM_ADMISSION_LIMIT", "CLAIM_ADMISSION_RETRY_AFTER"):
        if config[name] < 1:
            raise ConfigError(f"{name} must be 1 or more, not {config[name]}")
    admission_uri = config.get("CLAIM_ADMISSION_STORAGE_URI")
    if admission_uri and not admission_uri.startswith(("redis://", "rediss://", f"{rate_storage.SCHEME}://")):
        raise ConfigError(f"CLAIM_ADMISSION_STORAGE_URI: redis://… (shared by all instances) or "
                          f"{rate_storage.SCHEME}:// (each process its own), not {admission_uri}")
    for name in ("PROXY_FIX_X_FOR", "PROXY_FIX_X_PROTO"):
        if config[name] < 0:
            raise ConfigError(f"{name} counts the proxies in front of the app: 0 or more, not {config[name]}")
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _development_secret()
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(BASE_DIR / "instance" / "h5app.sqlite3")
    if not config["DATABASE_PREPARED_STATEMENTS"] and config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg"):
        # PgBouncer in transaction mode hands each transaction whichever server connection is free,
        # and a statement psycopg prepared on one is unknown on the next: psycopg prepares none.
        options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["connect_args"] = {**options.get("connect_args", {}), "prepare_threshold": None}
        config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _check_sms(config) -> None:
    backend = config["SMS_BACKEND"]
    if backend not in SMS_BACKEND_NAMES:
        raise ConfigError(f"SMS_BACKEND: one of {', '.join(SMS_BACKEND_NAMES)}, not {backend}")
    if backend in SMS_GATEWAYS:
        needed = ["SMS_ACCESS_KEY_ID", "SMS_ACCESS_KEY_SECRET", "SMS_SIGN_NAME", "SMS_TEMPLATE_ID"]
        needed += ["SMS_APP_ID"] if backend == "tencent" else []
        missing = [name for name in needed if not config.get(name)]
        if missing:
            raise ConfigError(f"SMS_BACKEND={backend} needs " + ", ".join(missing))
        if config["SMS_TIMEOUT_SECONDS"] <= 0:
            raise ConfigError("SMS_TIMEOUT_SECONDS must be positive")


def check_serving(config, workers: int) -> None:
    """Before a server starts `workers` processes: production refuses rate limits kept in each
    process's memory when more than one process serves (workers × H5APP_INSTANCES), since each
    would grant the whole limit (2 workers double every limit). gunicorn's on_starting hook calls
    it (gunicorn.conf.py): only the server knows how many workers it starts."""
    if config["ENV_NAME"] != PRODUCTION or not config["RATELIMIT_ENABLED"]:
        return
    processes = workers * config["H5APP_INSTANCES"]
    store = config["RATELIMIT_STORAGE_URI"]
    if processes > 1 and store.startswith(PER_PROCESS_STORES):
        raise ConfigError(
            f"生产环境拒绝启动 / production start refused: RATELIMIT_STORAGE_URI={store} keeps the rate limits "
            f"in each process, and {workers} worker(s) x H5APP_INSTANCES={config['H5APP_INSTANCES']} would each "
            "grant the whole limit. Set RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0 (shared by every process), "
            "or serve from one process only (WEB_CONCURRENCY=1, H5APP_INSTANCES=1).")
