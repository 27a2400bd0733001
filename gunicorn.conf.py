"""gunicorn settings for the demo and for production (override any with GUNICORN_CMD_ARGS)."""
import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
# gunicorn ≥ 25 opens a control socket in ~/.gunicorn by default; two servers on one machine (the
# demo beside a test run, two instances behind a balancer) would fight over it. We don't use it.
control_socket_disable = True
# The access log keeps the path but never the query string: an SSO ticket or a QR token there
# is a credential, and it may carry an ID number.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask": {"()": "h5app.identity.MaskingFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask"],
                    "stream": "ext://sys.stderr"},
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}
