"""What deploy/ ships, checked without the whole topology: nginx accepts the rendered site, the
environment example names every setting the app reads, production refuses per-process rate limits
with more than one process (gunicorn's on_starting), JSON log lines stay masked, the systemd units
point at what exists, and the nightly-job wrapper records each run for Prometheus."""
import configparser
import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from h5app import config as config_module
from h5app import create_app
from h5app.config import ConfigError, check_serving
from h5app.identity import MaskingFilter
from h5app.logs import formatter, gunicorn_logconfig

from .conftest import TEST_CONFIG
from .topology import binary, nginx_main_conf

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
ID_NUMBER, PHONE = "330602198501010013", "13805750099"


# --- nginx -------------------------------------------------------------------------------------

def render_site(**settings) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DEPLOY / "nginx" / "render-site")], capture_output=True, text=True,
                          env={"PATH": os.environ.get("PATH", ""), **settings})


SITE = {"SERVER_NAME": "pxq.example.gov.cn", "TLS_CERTIFICATE": "/etc/ssl/h5app/fullchain.pem",
        "TLS_CERTIFICATE_KEY": "/etc/ssl/h5app/privkey.pem", "H5APP_INSTANCE_ADDRESSES": "127.0.0.1:8001 127.0.0.1:8002"}


def test_render_site_writes_one_upstream_server_per_instance_and_the_https_redirect():
    site = render_site(**SITE, APP_ROOT=str(ROOT)).stdout
    assert "server 127.0.0.1:8001 max_fails=1 fail_timeout=10s;" in site and "server 127.0.0.1:8002" in site
    assert "return 301 https://$host$request_uri;" in site and not re.search(r"@[A-Z_]+@", site)
    assert "client_max_body_size 32m;" in site
    assert 'Strict-Transport-Security "max-age=63072000" always' in site
    elsewhere = render_site(**SITE, HTTPS_LISTEN="127.0.0.1:8443").stdout
    assert "return 301 https://$host:8443$request_uri;" in elsewhere


def test_render_site_refuses_to_print_a_site_with_a_setting_missing():
    rendered = render_site(**{k: v for k, v in SITE.items() if k != "TLS_CERTIFICATE"})
    assert rendered.returncode != 0 and "TLS_CERTIFICATE" in rendered.stderr and rendered.stdout == ""


@pytest.mark.skipif(binary("nginx") is None or binary("openssl") is None,
                    reason="needs nginx and openssl (apt-get install nginx)")
def test_nginx_accepts_the_shipped_site(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([binary("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    for sub in ("logs", "temp"):
        (tmp_path / sub).mkdir()
    site = render_site(**{**SITE, "TLS_CERTIFICATE": str(cert), "TLS_CERTIFICATE_KEY": str(key),
                          "APP_ROOT": str(ROOT), "LOG_DIR": str(tmp_path / "logs"),
                          "HTTP_LISTEN": "127.0.0.1:8080", "HTTPS_LISTEN": "127.0.0.1:8443"})
    assert site.returncode == 0, site.stderr
    (tmp_path / "h5app.conf").write_text(site.stdout)
    (tmp_path / "nginx.conf").write_text(nginx_main_conf(tmp_path, tmp_path / "h5app.conf"))
    checked = subprocess.run([binary("nginx"), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                             capture_output=True, text=True)
    assert checked.returncode == 0 and "syntax is ok" in checked.stderr, checked.stderr


# --- the environment file ----------------------------------------------------------------------

class ReadRecorder(dict):
    """os.environ stand-in that remembers every name asked for."""

    def __init__(self, values):
        super().__init__(values)
        self.asked = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.asked.add(key)
        return super().__contains__(key)


def test_the_environment_example_names_every_setting_the_app_and_gunicorn_read(monkeypatch, tmp_path):
    recorder = ReadRecorder({"H5APP_ENV": "production", "SECRET_KEY": "s" * 40,
                             "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})
    monkeypatch.setattr(os, "environ", recorder)
    create_app({"METRICS_ENABLED": True})
    monkeypatch.undo()
    read = {name for name in recorder.asked if re.fullmatch(r"[A-Z][A-Z0-9_]+", name)}
    read |= set(re.findall(r'environ(?:\.get\(|\[)"([A-Z][A-Z0-9_]+)"', (ROOT / "gunicorn.conf.py").read_text()))
    example = (DEPLOY / "h5app.env.example").read_text()
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", example, re.M))
    assert read - {"FLASK_APP", "FLASK_DEBUG", "FLASK_RUN_FROM_CLI"} <= documented, sorted(read - documented)
    assert {"SMS_ACCESS_KEY_ID", "RATELIMIT_STORAGE_URI", "DATABASE_PREPARED_STATEMENTS", "H5APP_INSTANCES"} <= read


# --- several processes, one limit ----------------------------------------------------------------

def production(**values) -> dict:
    return {**config_module.from_environment(), "ENV_NAME": "production", "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "process-memory://", "H5APP_INSTANCES": 1, **values}


@pytest.mark.parametrize("workers,instances,store", [(2, 1, "process-memory://"), (1, 2, "process-memory://"),
                                                     (4, 1, "memory://")])
def test_production_refuses_per_process_limits_with_more_than_one_process(workers, instances, store):
    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_URI"):
        check_serving(production(H5APP_INSTANCES=instances, RATELIMIT_STORAGE_URI=store), workers)


@pytest.mark.parametrize("workers,values", [
    (4, {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0", "H5APP_INSTANCES": 3}),
    (1, {}),  # one process: its memory is the whole count
    (4, {"ENV_NAME": "development"}),
    (4, {"RATELIMIT_ENABLED": False}),
])
def test_shared_or_single_process_limits_may_start(workers, values):
    check_serving(production(**values), workers)


def test_gunicorn_refuses_to_start_production_with_limits_per_worker(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "H5APP_ENV": "production",
           "SECRET_KEY": TEST_CONFIG["SECRET_KEY"], "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
           "WEB_CONCURRENCY": "2"}
    started = subprocess.run([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind",
                              "127.0.0.1:0", "wsgi:app"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=60)
    assert started.returncode != 0
    assert "production start refused" in started.stderr and "RATELIMIT_STORAGE_URI" in started.stderr


# --- logs ----------------------------------------------------------------------------------------

def test_json_log_lines_keep_id_numbers_and_phones_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(formatter("json"))
    log = logging.getLogger("h5app.test_json_logs")
    log.addHandler(handler)
    try:
        log.warning("sign-in by %s, phone %s", ID_NUMBER, PHONE)
        try:
            raise ValueError(f"duplicate id_number {ID_NUMBER}")
        except ValueError:
            log.exception("insert failed")
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["WARNING", "ERROR"]
    assert lines[0]["message"] == "sign-in by 3306**********0013, phone 138****0099"
    assert "3306**********0013" in lines[1]["exception"] and lines[1]["logger"] == "h5app.test_json_logs"
    assert ID_NUMBER not in stream.getvalue() and PHONE not in stream.getvalue()


def test_gunicorn_logs_through_the_masking_filter_in_either_format():
    for log_format, formatter_spec in (("json", {"()": "h5app.logs.JsonFormatter"}), ("plain", None)):
        logconfig = gunicorn_logconfig(log_format)
        assert logconfig["handlers"]["console"]["filters"] == ["mask"]
        assert logconfig["filters"]["mask"]["()"] == "h5app.identity.MaskingFilter"
        if formatter_spec:
            assert logconfig["formatters"]["line"] == formatter_spec


def test_an_unknown_log_format_refuses_to_start(make_app):
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        make_app(LOG_FORMAT="xml")


# --- systemd and the nightly jobs --------------------------------------------------------------

def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(DEPLOY / "systemd" / name)
    return parser


def test_the_instance_unit_runs_gunicorn_with_the_repository_config_on_its_port():
    service = unit("h5app@.service")["Service"]
    assert service["ExecStart"].endswith("gunicorn --config gunicorn.conf.py --bind 127.0.0.1:%i wsgi:app")
    assert service["EnvironmentFile"] == "/etc/h5app/h5app.env" and service["Type"] == "notify"
    assert service["Environment"] == "PROMETHEUS_MULTIPROC_DIR=/run/h5app-%i" and service["RuntimeDirectory"] == "h5app-%i"


def test_every_timer_starts_a_job_the_wrapper_knows():
    wrapper = (DEPLOY / "h5app-job").read_text()
    known = set(re.findall(r"^  ([a-z-]+)\)", wrapper, re.M))
    timers = sorted((DEPLOY / "systemd").glob("*.timer"))
    assert {t.stem.removeprefix("h5app-") for t in timers} == {"vouchers-expire", "settlements-match", "stats-rollup",
                                                                  "backup"}
    for timer in timers:
        target = unit(timer.name)["Timer"]["Unit"]
        assert target.startswith("h5app-job@") and target.removeprefix("h5app-job@").removesuffix(".service") in known
    assert unit("h5app-job@.service")["Service"]["ExecStart"] == "/opt/h5app/deploy/h5app-job %i"


def job_metrics(folder: Path, job: str) -> dict:
    text = (folder / f"h5app_job_{job.replace('-', '_')}.prom").read_text()
    return {sample.name: sample.value for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.labels == {"job": job}}


def test_the_job_wrapper_runs_the_flask_command_and_records_success_and_failure(tmp_path, database_url, app):
    env = {**os.environ, "METRICS_TEXTFILE_DIR": str(tmp_path), "H5APP_ENV": "testing", "DATABASE_URL": database_url,
           "SECRET_KEY": TEST_CONFIG["SECRET_KEY"], "FLASK": str(Path(sys.executable).with_name("flask"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    ran = subprocess.run([str(DEPLOY / "h5app-job"), "vouchers-expire"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    first = job_metrics(tmp_path, "vouchers-expire")
    assert first["h5app_job_last_exit_code"] == 0
    assert first["h5app_job_last_success_timestamp_seconds"] == first["h5app_job_last_run_timestamp_seconds"] > 0

    failed = subprocess.run([str(DEPLOY / "h5app-job"), "vouchers-expire"], cwd=ROOT, capture_output=True,
                            env={**env, "FLASK": "false"}, timeout=60)
    assert failed.returncode == 1
    second = job_metrics(tmp_path, "vouchers-expire")
    assert second["h5app_job_last_exit_code"] == 1
    assert second["h5app_job_last_success_timestamp_seconds"] == first["h5app_job_last_success_timestamp_seconds"]
    assert second["h5app_job_last_run_timestamp_seconds"] >= first["h5app_job_last_run_timestamp_seconds"]
    assert subprocess.run([str(DEPLOY / "h5app-job"), "reboot"], capture_output=True).returncode == 2


def test_the_grafana_dashboard_asks_only_for_metrics_that_exist(client):
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    asked = {name for expr in exprs for name in re.findall(r"\b(h5app_[a-z_]+|scanner_bridge_[a-z_]+)\b", expr)}
    exposed = set(re.findall(r"^# TYPE (\S+) (\w+)", client.get("/metrics").get_data(as_text=True), re.M))
    known = {name for name, kind in exposed} | {f"{name}_{suffix}" for name, kind in exposed
                                                 for suffix in ("total", "bucket", "count", "sum")}
    known |= set(re.findall(r"(h5app_job_[a-z_]+)", (DEPLOY / "h5app-job").read_text()))
    bridge = (ROOT / "scanner_bridge" / "metrics.py").read_text()
    known |= {f"{n}_total" for n in re.findall(r'"(scanner_bridge_[a-z_]+)"', bridge)}
    known |= set(re.findall(r'"(scanner_bridge_[a-z_]+)"', bridge))
    assert asked and asked <= known, sorted(asked - known)
