"""Evidence photos (补签: the paper sign-in sheet). Only a real image is taken — its content is read
with Pillow, whatever its name says — up to 5 MB; it is re-encoded as a JPEG (upright, no EXIF:
no phone location or hidden payload survives) and kept in the instance folder under a random
name. Pages serve it only to the institution that asked and the bureau that reviews."""
import os
import re
import secrets
from io import BytesIO
from pathlib import Path

from flask import abort, current_app, send_file
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 50_000_000  # a 50-megapixel phone photo; more is a decompression bomb, not a photo
LONG_SIDE = 2400  # px: the sheet stays legible, the file small
FORMATS = {"JPEG", "PNG", "WEBP"}
NAME = re.compile(r"^[0-9a-f]{32}\.jpg$")


class EvidenceError(Exception):
    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def folder() -> Path:
    return Path(current_app.config.get("EVIDENCE_DIR") or Path(current_app.instance_path) / "evidence")


def upload_size(upload) -> int:
    """Bytes of an uploaded file, measured without reading it into memory."""
    stream = upload.stream
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def clean_image(data: bytes) -> bytes:
    """The photo as a JPEG, or EvidenceError saying what is wrong with it."""
    if not data:
        raise EvidenceError("请选择签到表照片")
    if len(data) > MAX_BYTES:
        raise EvidenceError(f"照片不能超过5MB（该文件约{len(data) / 1024 / 1024:.1f}MB），请压缩或重新拍摄后上传")
    not_image = EvidenceError("只能上传照片（JPG、PNG 或 WEBP 格式的图片），该文件不是有效的图片")
    try:
        with Image.open(BytesIO(data)) as probe:
            if probe.format not in FORMATS:
                raise not_image
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise EvidenceError("照片像素过大，请用手机正常拍摄后上传")
            probe.verify()  # a truncated or corrupt file fails here
        with Image.open(BytesIO(data)) as image:
            upright = ImageOps.exif_transpose(image)
            picture = upright.convert("RGB")
            picture.thumbnail((LONG_SIDE, LONG_SIDE))
            out = BytesIO()
            picture.save(out, "JPEG", quality=85, optimize=True)
    except EvidenceError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError,
            TypeError, IndexError, KeyError, EOFError):
        raise not_image from None
    return out.getvalue()


def read_upload(upload) -> bytes:
    """The uploaded photo, cleaned (clean_image); a file over the limit is refused unread."""
    if upload is None or not getattr(upload, "filename", None):
        raise EvidenceError("请选择签到表照片")
    size = upload_size(upload)
    if size > MAX_BYTES:
        raise EvidenceError(f"照片不能超过5MB（该文件约{size / 1024 / 1024:.1f}MB），请压缩或重新拍摄后上传")
    return clean_image(upload.read())


def store(jpeg: bytes) -> str:
    """Keep the photo; returns its name (random, never the uploader's)."""
    where = folder()
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{secrets.token_hex(16)}.jpg"
    descriptor = os.open(where / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(jpeg)
    return name


def path_of(name: str | None) -> Path | None:
    """Where a stored photo is, or None for a name that is not one of ours or a file that is gone."""
    if not name or not NAME.match(name):
        return None
    path = folder() / name
    return path if path.is_file() else None


def remove(name: str | None) -> None:
    path = path_of(name)
    if path is not None:
        path.unlink(missing_ok=True)


def send(name: str | None, download_name: str):
    """The stored photo as a response, for a viewer the caller has checked: not kept by a shared
    cache, not sniffed as another type (the app's nosniff header)."""
    path = path_of(name)
    if path is None:
        abort(404)
    response = send_file(path, mimetype="image/jpeg", download_name=download_name, max_age=0, conditional=True)
    response.headers["Cache-Control"] = "private, no-store"
    return response
