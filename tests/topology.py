"""The production topology on loopback ports, for tests/test_deploy_topology.py and
bench/nginx_instances.py: PgBouncer (transaction mode) in front of a PostgreSQL database, Redis,
N gunicorn instances of the app and nginx in front of them — Debian's binaries, each started with
the config files shipped in deploy/ (ports and paths changed, nothing else) in a temporary folder.

Everything waits on conditions with a deadline, never on a fixed sleep; `close()` stops every
process it started, by its own process group."""
import configparser
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import requests

from .scanner_processes import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
BINARIES = ("nginx", "pgbouncer", "redis-server", "openssl")


def binary(name: str) -> str | None:
    return shutil.which(name, path=SBIN)


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if binary(name) is None]


class Process:
    """One started program, in its own session, its output in a log file."""

    def __init__(self, name: str, command: list[str], log: Path, **kwargs):
        self.name, self.log = name, log
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True, **kwargs)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check(self) -> None:
        if not self.alive():
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL to the whole process group: a gunicorn master and its workers die together."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass
        else:  # the leader is gone; its children (gunicorn workers) may not be
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Topology:
    """`Topology(database_url, secret_key, instances=2).start()`; then `.url` is nginx's HTTPS origin,
    `.instances[i].port` each gunicorn's, `.cert` the certificate to trust."""

    def __init__(self, database_url: str, secret_key: str, instances: int = 2, workers: int = 2, threads: int = 4,
                 extra_env: dict | None = None):
        self.database_url, self.secret_key = database_url, secret_key
        self.instance_count, self.workers, self.threads = instances, workers, threads
        self.extra_env = extra_env or {}
        self.folder = Path(tempfile.mkdtemp(prefix="h5app-topology-"))
        self.folder.chmod(0o755)  # PgBouncer runs as another user when we are root
        self.processes: list[Process] = []
        self.instances: list[Process] = []
        self.redis_port = self.pgbouncer_port = self.http_port = self.https_port = None

    # --- the pieces, in the order a bureau's IT team sets them up ------------------------------
    def start(self) -> "Topology":
        try:
            self.start_redis()
            self.start_pgbouncer()
            for _ in range(self.instance_count):
                self.start_instance()
            self.start_nginx()
        except BaseException:
            self.close()
            raise
        return self

    def start_redis(self) -> None:
        self.redis_port = free_port()
        data = self.folder / "redis"
        data.mkdir()
        process = self._spawn("redis", [binary("redis-server"), str(DEPLOY / "redis" / "h5app.conf"),
                                        "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                        "--dir", str(data), "--daemonize", "no"])
        wait_for(lambda: process.check() or _port_open(self.redis_port), 30, "redis-server to listen")

    def start_pgbouncer(self) -> None:
        """The shipped pgbouncer.ini, with its port, files and authentication for a test server."""
        self.pgbouncer_port = free_port()
        target = urlsplit(self.database_url.replace("+psycopg", ""))
        self.database_name = target.path.lstrip("/")
        folder = self.folder / "pgbouncer"
        folder.mkdir()
        ini = configparser.ConfigParser(interpolation=None, delimiters=("=",), comment_prefixes=(";", "#"))
        ini.optionxform = str
        ini.read(DEPLOY / "pgbouncer" / "pgbouncer.ini")
        ini["databases"] = {self.database_name: f"host={target.hostname} port={target.port or 5432} "
                                                f"dbname={self.database_name}"}
        user = target.username or "postgres"
        settings = ini["pgbouncer"]
        settings.update({"listen_port": str(self.pgbouncer_port), "unix_socket_dir": "",
                         "auth_type": "trust", "auth_file": str(folder / "userlist.txt"),
                         "admin_users": user, "logfile": str(folder / "pgbouncer.log"),
                         "pidfile": str(folder / "pgbouncer.pid")})
        settings.pop("stats_users", None)
        (folder / "userlist.txt").write_text(f'"{user}" "{target.password or ""}"\n')
        with open(folder / "pgbouncer.ini", "w") as handle:
            ini.write(handle)
        command = [binary("pgbouncer"), str(folder / "pgbouncer.ini")]
        if os.geteuid() == 0:  # PgBouncer will not run as root
            runner = pwd.getpwnam("postgres" if _user_exists("postgres") else "nobody")
            for path in (folder, *folder.iterdir()):
                os.chown(path, runner.pw_uid, runner.pw_gid)
            command[1:1] = ["-u", runner.pw_name]
        process = self._spawn("pgbouncer", command)
        wait_for(lambda: process.check() or _port_open(self.pgbouncer_port), 30, "pgbouncer to listen")

    @property
    def app_database_url(self) -> str:
        target = urlsplit(self.database_url)
        credentials = target.username + (f":{target.password}" if target.password else "")
        return f"postgresql+psycopg://{credentials}@127.0.0.1:{self.pgbouncer_port}/{self.database_name}"

    def app_env(self) -> dict:
        env = {**os.environ, "H5APP_ENV": "production", "SECRET_KEY": self.secret_key,
               "DATABASE_URL": self.app_database_url, "DATABASE_PREPARED_STATEMENTS": "off",
               "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{self.redis_port}/0",
               "H5APP_INSTANCES": str(self.instance_count), "WEB_CONCURRENCY": str(self.workers),
               "GUNICORN_THREADS": str(self.threads), "PROXY_FIX_X_FOR": "1", "PROXY_FIX_X_PROTO": "1",
               "SMS_BACKEND": "none", "DEMO_MODE": "0", "LOG_FORMAT": "json"}
        for name in ("QR_SECRET", "TEST_DATABASE_URL", "CLAIM_ADMISSION_STORAGE_URI"):
            env.pop(name, None)
        return {**env, **self.extra_env}

    def start_instance(self) -> Process:
        port = free_port()
        env = {**self.app_env(), "PROMETHEUS_MULTIPROC_DIR": str(self.folder / f"metrics-{port}")}
        process = self._spawn(f"gunicorn-{port}", [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
                                                   "--bind", f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env)
        process.port = port
        wait_for(lambda: process.check() or _answers(f"http://127.0.0.1:{port}/healthz"), 90, f"gunicorn on {port}")
        self.instances.append(process)
        return process

    def start_nginx(self, instances: list[Process] | None = None) -> int:
        """nginx with the shipped site in front of `instances` (default: all); its HTTPS port. The
        first one started is `url`; bench/nginx_instances.py starts a second in front of one instance."""
        instances = instances or self.instances
        http_port, https_port = free_port(), free_port()
        folder = self.folder / f"nginx-{https_port}"
        for sub in ("logs", "temp"):
            (folder / sub).mkdir(parents=True)
        if self.https_port is None:
            self.cert, self.key = folder / "cert.pem", folder / "key.pem"
            subprocess.run([binary("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                            "-keyout", str(self.key), "-out", str(self.cert)], check=True, capture_output=True)
        site = subprocess.run(
            [sys.executable, str(DEPLOY / "nginx" / "render-site")], check=True, capture_output=True, text=True,
            env={"PATH": os.environ.get("PATH", ""), "SERVER_NAME": "127.0.0.1 localhost",
                 "HTTP_LISTEN": f"127.0.0.1:{http_port}", "HTTPS_LISTEN": f"127.0.0.1:{https_port}",
                 "TLS_CERTIFICATE": str(self.cert), "TLS_CERTIFICATE_KEY": str(self.key), "APP_ROOT": str(ROOT),
                 "LOG_DIR": str(folder / "logs"),
                 "H5APP_INSTANCE_ADDRESSES": " ".join(f"127.0.0.1:{p.port}" for p in instances)}).stdout
        (folder / "h5app.conf").write_text(site)
        conf = folder / "nginx.conf"
        conf.write_text(nginx_main_conf(folder, folder / "h5app.conf"))
        command = [binary("nginx"), "-p", str(folder), "-c", str(conf)]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        process = self._spawn(f"nginx-{https_port}", [*command, "-g", "daemon off;"])
        origin = f"https://127.0.0.1:{https_port}"
        wait_for(lambda: process.check() or _answers(origin + "/healthz", verify=str(self.cert)), 30, "nginx")
        if self.https_port is None:
            self.http_port, self.https_port = http_port, https_port
        return https_port

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    # --- running -----------------------------------------------------------------------------
    def _spawn(self, name: str, command: list[str], **kwargs) -> Process:
        process = Process(name, [str(part) for part in command], self.folder / f"{name}.log", **kwargs)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in self.processes)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def nginx_main_conf(folder: Path, site: Path) -> str:
    """The main nginx.conf Debian ships, cut to what one site needs, with every path in `folder`."""
    user = "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    temp = folder / "temp"
    return f"""user {user};
worker_processes 2;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log;
events {{ worker_connections 1024; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    server_tokens off;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder}/logs/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
"""


def _answers(url: str, verify=True) -> bool:
    session = requests.Session()
    session.trust_env = False  # loopback: no proxy, and our own certificate
    try:
        return session.get(url, timeout=2, verify=verify).status_code == 200
    except requests.RequestException:
        return False


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
