"""Static files through WhiteNoise: pages link content-hashed names (`css/app.3f9c1e0a2b4d.css`),
served gzipped when the client accepts it and cached for a year; the plain names still answer,
with a short cache (the QR scanner imports its worker module by its plain name)."""
import hashlib
import os
import tempfile
from pathlib import Path, PurePosixPath

from flask import Flask
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

YEAR = 365 * 24 * 60 * 60
SHORT = 60  # seconds: a plain name may change content at the next deploy


def register(app: Flask) -> None:
    if app.debug:
        return  # `flask run --debug`: Flask serves static/ itself, and an edited file shows at once
    prefix = app.static_url_path.strip("/") + "/"
    source = Path(app.static_folder)
    build = Path(app.instance_path) / "static-build"
    manifest = build_hashed_copies(source, build)
    immutable = {f"/{prefix}{hashed}" for hashed in manifest.values()}

    def add_headers(headers, path, url):
        headers["X-Content-Type-Options"] = "nosniff"
        if url in immutable:
            headers["Cache-Control"] = f"max-age={YEAR}, public, immutable"

    server = WhiteNoise(app.wsgi_app, root=source, prefix=prefix, max_age=SHORT, allow_all_origins=False,
                        add_headers_function=add_headers)
    server.add_files(build, prefix)
    app.wsgi_app = server

    @app.url_defaults
    def link_hashed_name(endpoint, values):
        if endpoint == "static" and values.get("filename") in manifest:
            values["filename"] = manifest[values["filename"]]


def build_hashed_copies(source: Path, build: Path) -> dict[str, str]:
    """Copy every file of `source` into `build` under its content-hashed name, with a gzipped twin
    where gzip pays (WhiteNoise's own compressor); return {plain name: hashed name}.

    Done at every start, from the files on disk, so no build step can be forgotten or stale. A
    name is its content, so an existing copy is never out of date, and workers starting together
    only ever write the same bytes, each file by an atomic rename."""
    compressor = Compressor(use_gzip=True, use_brotli=False, quiet=True)
    manifest = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        name = path.relative_to(source).as_posix()
        data = path.read_bytes()
        manifest[name] = hashed = hashed_name(name, data)
        target = build / hashed
        target.parent.mkdir(parents=True, exist_ok=True)
        zipped = target.with_name(target.name + ".gz")
        if compressor.should_compress(name) and not zipped.exists():
            compressed = compressor.compress_gzip(data)
            if compressor.is_compressed_effectively("gzip", name, len(data), compressed):
                _write_atomically(zipped, compressed)
        if not target.exists():
            _write_atomically(target, data)
    return manifest


def hashed_name(name: str, data: bytes) -> str:
    """`js/live-qr.js` → `js/live-qr.<12 hex of its SHA-256>.js`, as Django's manifest storage names them."""
    path = PurePosixPath(name)
    digest = hashlib.sha256(data).hexdigest()[:12]
    return str(path.with_name(f"{path.stem}.{digest}{path.suffix}"))


def _write_atomically(target: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-", delete=False) as file:
        file.write(data)
    os.chmod(file.name, 0o644)
    os.replace(file.name, target)
