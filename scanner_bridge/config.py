"""The bridge's settings: command line over environment (SCANNER_BRIDGE_*) over a config file
(INI, section [scanner_bridge]) over the defaults below. `python -m scanner_bridge --help` lists them."""
import argparse
import codecs
import configparser
import os
import re
from dataclasses import dataclass, fields

from .parser import DEFAULT_CHARSET, TERMINATORS

ENV_PREFIX = "SCANNER_BRIDGE_"
SECTION = "scanner_bridge"
PARITIES = {"N": "none", "E": "even", "O": "odd", "M": "mark", "S": "space"}


class ConfigError(ValueError):
    pass


@dataclass
class Settings:
    port: str = ""
    server: str = ""
    token: str = ""
    baud: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1.0
    terminator: str = "CR"
    min_length: int = 4
    max_length: int = 64
    charset: str = DEFAULT_CHARSET
    dedup_window: float = 3.0
    line_timeout: float = 0.5
    queue: str = "scanner-queue.sqlite3"
    batch_size: int = 100
    http_timeout: float = 10.0
    retry_max: float = 30.0
    reopen_max: float = 10.0
    ok_bytes: str = ""
    fail_bytes: str = ""
    ca_bundle: str = ""
    log_level: str = "INFO"
    metrics_port: int = 0
    metrics_address: str = "127.0.0.1"

    @property
    def ok_feedback(self) -> bytes:
        return _unescape(self.ok_bytes)

    @property
    def fail_feedback(self) -> bytes:
        return _unescape(self.fail_bytes)

    def public(self) -> dict:
        """For the start-up log line: everything but the token."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "token"}


HELP = {
    "port": "serial port: /dev/ttyUSB0, /dev/scanner (udev name), COM3, or a pyserial URL such as loop://",
    "server": "server base URL, e.g. https://pxq.example.gov.cn",
    "token": "the scan gun's device token, shown once when it was registered on 扫码枪 page "
             "(prefer the config file or SCANNER_BRIDGE_TOKEN: the command line is visible in ps)",
    "baud": "baud rate (most scan guns: 9600 or 115200)",
    "bytesize": "data bits: 5, 6, 7 or 8",
    "parity": "parity: N (none), E (even), O (odd), M (mark), S (space)",
    "stopbits": "stop bits: 1, 1.5 or 2",
    "terminator": "what ends each scan: CR, LF or CRLF",
    "min_length": "shortest accepted scan, in characters",
    "max_length": "longest accepted scan, in characters; longer lines are logged and skipped",
    "charset": "accepted characters, as the inside of a regex [...] class",
    "dedup_window": "seconds within which a second read of the same code is dropped",
    "line_timeout": "seconds of silence after which an unterminated partial line is dropped",
    "queue": "path of the local SQLite queue file (kept across restarts)",
    "batch_size": "at most this many queued scans per request when draining a backlog",
    "http_timeout": "seconds to wait for the server's answer",
    "retry_max": "longest back-off between delivery attempts, in seconds",
    "reopen_max": "longest back-off between attempts to reopen a lost port, in seconds",
    "ok_bytes": "bytes written back to the scan gun after an accepted scan, e.g. \\x07 (empty: none)",
    "fail_bytes": "bytes written back after a refused scan, e.g. \\x07\\x07\\x07 (empty: none)",
    "ca_bundle": "CA bundle file for the server's TLS certificate (empty: the system's)",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
    "metrics_port": "serve Prometheus metrics (queue depth, oldest queued scan, outcomes) on this port; 0: off",
    "metrics_address": "address the metrics port listens on (127.0.0.1: this machine only)",
}


def _unescape(text: str) -> bytes:
    return codecs.escape_decode(text.encode())[0] if text else b""


def build_argparser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scanner_bridge",
        description="扫码桥: forwards a serial scan gun's reads to the 职业培训券 server, through a durable "
                    "local queue. Each option can also be set as SCANNER_BRIDGE_<NAME> in the environment "
                    f"or as <name> = value in section [{SECTION}] of the --config file.",
    )
    parser.add_argument("--config", help="INI config file (env SCANNER_BRIDGE_CONFIG)")
    defaults = Settings()
    for f in fields(Settings):
        env = ENV_PREFIX + f.name.upper()
        default = getattr(defaults, f.name)
        shown = f" [default: {default}]" if default not in ("", None) else ""
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None,
                            help=f"{HELP[f.name]}{shown} (env {env})")
    return parser


def load(argv: list[str] | None = None, environ: dict | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    args = build_argparser().parse_args(argv)
    raw: dict[str, str] = {}
    config_path = args.config or environ.get(ENV_PREFIX + "CONFIG")
    if config_path:
        ini = configparser.ConfigParser(interpolation=None)
        if not ini.read(config_path, encoding="utf-8"):
            raise ConfigError(f"找不到配置文件 config file not found: {config_path}")
        if ini.has_section(SECTION):
            raw.update({k.replace("-", "_"): v for k, v in ini.items(SECTION)})
    for f in fields(Settings):
        if ENV_PREFIX + f.name.upper() in environ:
            raw[f.name] = environ[ENV_PREFIX + f.name.upper()]
        if getattr(args, f.name) is not None:
            raw[f.name] = getattr(args, f.name)
    unknown = set(raw) - {f.name for f in fields(Settings)}
    if unknown:
        raise ConfigError(f"配置文件中有未知设置 unknown setting(s) in the config file: {', '.join(sorted(unknown))}")
    settings = Settings()
    for f in fields(Settings):
        if f.name in raw:
            kind = type(getattr(settings, f.name))
            try:
                setattr(settings, f.name, kind(raw[f.name]) if kind is not str else raw[f.name])
            except ValueError:
                raise ConfigError(f"{f.name} 的值无效 not a valid {kind.__name__}: {raw[f.name]!r}") from None
    check(settings)
    return settings


def check(s: Settings) -> None:
    for name in ("port", "server", "token"):
        if not getattr(s, name):
            raise ConfigError(f"缺少必填设置 {name} is required (--{name}, {ENV_PREFIX}{name.upper()} or the config file)")
    if not s.server.startswith(("http://", "https://")):
        raise ConfigError("服务器地址须以 http:// 或 https:// 开头 server must start with http:// or https://")
    s.parity = s.parity.upper()[:1]
    s.terminator = s.terminator.upper()
    s.log_level = s.log_level.upper()
    problems = []
    if not 0 <= s.metrics_port <= 65535:
        problems.append("metrics_port 须在0（关闭）至65535之间 must be between 0 (off) and 65535")
    if s.baud <= 0:
        problems.append("baud 波特率须为正数 must be positive")
    if s.bytesize not in (5, 6, 7, 8):
        problems.append("bytesize 数据位须为5、6、7或8 must be 5, 6, 7 or 8")
    if s.parity not in PARITIES:
        problems.append("parity 校验位须为N、E、O、M或S must be N, E, O, M or S")
    if s.stopbits not in (1, 1.5, 2):
        problems.append("stopbits 停止位须为1、1.5或2 must be 1, 1.5 or 2")
    if s.terminator not in TERMINATORS:
        problems.append("terminator 结束符须为CR、LF或CRLF must be CR, LF or CRLF")
    if not 1 <= s.min_length <= s.max_length <= 1024:
        problems.append("长度设置须满足 need 1 <= min_length <= max_length <= 1024")
    if not 1 <= s.batch_size <= 200:
        problems.append("batch_size 须在1至200之间 must be between 1 and 200 (the server's limit)")
    if s.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append("log_level 须为DEBUG、INFO、WARNING或ERROR must be DEBUG, INFO, WARNING or ERROR")
    for name in ("dedup_window", "line_timeout", "http_timeout", "retry_max", "reopen_max"):
        if getattr(s, name) < 0:
            problems.append(f"{name} 不能为负数 must not be negative")
    for name in ("ok_bytes", "fail_bytes"):
        try:
            _unescape(getattr(s, name))
        except ValueError:
            problems.append(f"{name} 转义序列有误 bad escape sequence")
    try:
        re.compile(f"[{s.charset}]+")
    except re.error as exc:
        problems.append(f"charset 字符集无效 not a valid regex class: {exc}")
    if problems:
        raise ConfigError("；".join(problems))
