"""Log lines for people (plain) or for a log collector (LOG_FORMAT=json: one JSON object a line),
masked alike: the MaskingFilter on the handler rewrites ID numbers, phones and accounts in the
message and the traceback before either formatter sees the record.

gunicorn.conf.py builds its logging from `gunicorn_logconfig`; create_app gives Flask's own
handler the same formatter (h5app.register_logging)."""
import json
import logging
import os
from datetime import datetime, timezone

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", "process"[, "exception"]} — the message as the masking
    filter left it, the traceback likewise."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN)


def gunicorn_logconfig(log_format: str | None = None) -> dict:
    """gunicorn's logconfig_dict: every line through the masking filter, plain or JSON."""
    log_format = log_format or os.environ.get("LOG_FORMAT", "plain")
    formatter_spec = {"()": "h5app.logs.JsonFormatter"} if log_format == "json" else {"format": PLAIN}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask": {"()": "h5app.identity.MaskingFilter"}},
        "formatters": {"line": formatter_spec},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "line", "filters": ["mask"],
                        "stream": "ext://sys.stderr"},
        },
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }
