"""Real processes for the scanner end-to-end test and bench/scanner.py: the app under gunicorn, a
socat pty pair standing in for the scan gun's serial line, and `python -m scanner_bridge`.
Everything waits on conditions with a deadline, never on a fixed sleep."""
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SOCAT = shutil.which("socat")


def wait_for(condition, timeout: float = 30.0, what: str = "condition", interval: float = 0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)  # polling interval, not a timing assumption
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_supports_no_control_socket() -> bool:
    help_text = subprocess.run([sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True).stdout
    return "--no-control-socket" in help_text


class Server:
    """The app under gunicorn on a loopback port, against `database_url`."""

    def __init__(self, database_url: str, secret_key: str, log_path: Path, workers: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url, self.secret_key, self.log_path, self.workers = database_url, secret_key, log_path, workers
        self.process: subprocess.Popen | None = None
        self._no_control = gunicorn_supports_no_control_socket()

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, "H5APP_ENV": "testing", "SECRET_KEY": self.secret_key, "DATABASE_URL": self.database_url,
               "DEMO_MODE": "0", "WEB_CONCURRENCY": str(self.workers)}
        env.pop("QR_SECRET", None)
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers",
                   str(self.workers), "--threads", "4", "wsgi:app"]
        if self._no_control:
            command.insert(3, "--no-control-socket")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log,
                                            start_new_session=True)
        wait_for(self.ready, timeout, "gunicorn to answer", interval=0.05)

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
        try:
            return requests.get(self.url + "/scanner/v1/device", timeout=1).status_code == 401
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None


class PtyPair:
    """socat's two linked ptys: the test writes what the scan gun would send into `gun`, the bridge
    reads `port`. A second handle on `port` is held open so that the bridge being killed does not
    hang up socat's side of it (a pty master with no slave open reads as an error)."""

    def __init__(self, folder: Path):
        self.gun, self.port = str(folder / "gun"), str(folder / "port")
        self.process = subprocess.Popen(
            [SOCAT, "pty,raw,echo=0,link=" + self.gun, "pty,raw,echo=0,link=" + self.port],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: os.path.exists(self.gun) and os.path.exists(self.port), 10, "socat's ptys")
        self._hold = os.open(self.port, os.O_RDWR | os.O_NOCTTY)
        self._writer = os.open(self.gun, os.O_RDWR | os.O_NOCTTY)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._writer, view):]

    def close(self) -> None:
        for fd in (self._writer, self._hold):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class BridgeProcess:
    """`python -m scanner_bridge` on the pty, its log appended to one file across restarts."""

    def __init__(self, port: str, server_url: str, token: str, queue_path: Path, log_path: Path, **options):
        self.port, self.server_url, self.token = port, server_url, token
        self.queue_path, self.log_path, self.options = queue_path, log_path, options
        self.process: subprocess.Popen | None = None

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 30.0) -> None:
        opened_before = self.log_text().count("串口已打开")
        command = [sys.executable, "-m", "scanner_bridge", "--port", self.port, "--server", self.server_url,
                   "--queue", str(self.queue_path)]
        for name, value in self.options.items():
            command += ["--" + name.replace("_", "-"), str(value)]
        env = {**os.environ, "SCANNER_BRIDGE_TOKEN": self.token}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log,
                                            start_new_session=True)
        wait_for(lambda: self._alive() and self.log_text().count("串口已打开") > opened_before, timeout,
                 "the bridge to open the port", interval=0.02)

    def _alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the bridge exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
        return True

    def kill(self) -> None:
        """kill -9: no chance to tidy up."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def queued(self) -> int:
        if not self.queue_path.exists():
            return 0
        conn = sqlite3.connect(self.queue_path, timeout=10)
        try:
            return conn.execute("SELECT count(*) FROM scans").fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            return 0
        finally:
            conn.close()
