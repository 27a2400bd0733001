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
