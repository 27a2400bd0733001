"""Settings, read from the environment. Production refuses to start without its secrets."""
import os
from pathlib import Path

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


def from_environment():
    """Build the config mapping for the current environment.

    H5APP_ENV=production (the default under gunicorn when not told otherwise is still
    'development' so the README demo works) demands SECRET_KEY and DATABASE_URL.
    """
    env = os.environ.get("H5APP_ENV", "development")
    secret = os.environ.get("SECRET_KEY")
    database_url = os.environ.get("DATABASE_URL")
    if env == "production":
        missing = [n for n, v in (("SECRET_KEY", secret), ("DATABASE_URL", database_url)) if not v]
        if missing:
            raise ConfigError(
                "生产环境缺少必需的环境变量 / production start refused, missing: " + ", ".join(missing)
            )
        if len(secret) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
    if not secret:
        secret = _development_secret()
    if not database_url:
        database_url = "sqlite:///" + str(BASE_DIR / "instance" / "h5app.sqlite3")
    return {
        "ENV_NAME": env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "QR_SECRET": os.environ.get("QR_SECRET") or None,
        "DEMO_MODE": _bool("DEMO_MODE", env != "production"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", env == "production"),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session; a worker may keep a page open for long
        "SMS_BACKEND": os.environ.get("SMS_BACKEND", "console"),
        "STAFF_MAX_FAILED_LOGINS": int(os.environ.get("STAFF_MAX_FAILED_LOGINS", "5")),
        "STAFF_LOCKOUT_MINUTES": int(os.environ.get("STAFF_LOCKOUT_MINUTES", "15")),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "SQLITE_BUSY_TIMEOUT_MS": int(os.environ.get("SQLITE_BUSY_TIMEOUT_MS", "30000")),
    }
