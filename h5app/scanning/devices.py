"""扫码枪 devices: registered by the institution officer, each with a bearer token shown once and
stored only as its SHA-256; set to a mode (验券 for a class, 签到 or 签退 for a lesson) that the
front desk may switch; revoked for good."""
import hashlib
import secrets
import unicodedata

from sqlalchemy import select

from ..access import institution_owns
from ..models import ClassSession, ScanDevice, TrainingClass
from ..timeutil import utcnow
from ..vouchers import audit
from ..vouchers.errors import OutOfScope, ValidationFailed

MODE_VERIFY, MODE_CHECKIN, MODE_CHECKOUT = "verify", "checkin", "checkout"
MODES = {MODE_VERIFY: "扫码验券", MODE_CHECKIN: "扫码签到", MODE_CHECKOUT: "扫码签退"}
LESSON_MODES = frozenset({MODE_CHECKIN, MODE_CHECKOUT})  # judged against a lesson (课次), not a class
TOKEN_PREFIX = "sg_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def device_actor(device: ScanDevice) -> audit.Actor:
    return audit.Actor("device", device.id, f"扫码枪 {device.name}", institution_id=device.institution_id)


def authenticate(session, token: str | None) -> ScanDevice | None:
    """The live device behind a bearer token, or None (unknown, malformed or revoked)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    return session.scalar(select(ScanDevice).where(ScanDevice.token_hash == hash_token(token),
                                                   ScanDevice.revoked_at.is_(None)))


def _target(session, institution_id: int, mode: str, class_id: int | None, session_id: int | None):
    """(class_id, session_id) the device will judge against, checked to belong to the institution."""
    if mode not in MODES:
        raise ValidationFailed("请选择扫码用途")
    if mode == MODE_VERIFY:
        if class_id is None:
            return None, None  # not set yet: scans are refused until the desk picks a class
        training_class = session.get(TrainingClass, class_id)
        if not institution_owns(institution_id, training_class):
            raise OutOfScope("只能选择本机构的班期")
        return training_class.id, None
    if session_id is None:
        return None, None
    class_session = session.get(ClassSession, session_id)
    if not institution_owns(institution_id, class_session):
        raise OutOfScope("只能选择本机构的课次")
    return class_session.class_id, class_session.id


def _name(session, institution_id: int, name: str) -> str:
    """The gun's name as the desk tells guns apart by it: visible (a letter or digit, not only
    spaces or invisible characters) and not the name of another live gun of the institution — a
    page reloaded after registering would otherwise register a second gun of the same name."""
    name = name.strip()
    if not any(unicodedata.category(c)[0] in "LN" for c in name):
        raise ValidationFailed("请填写扫码枪名称，如“前台1号”", fields={"name": "请填写扫码枪名称，如“前台1号”"})
    if session.scalar(select(ScanDevice.id).where(ScanDevice.institution_id == institution_id,
                                                  ScanDevice.name == name, ScanDevice.revoked_at.is_(None))):
        message = f"本机构已有名为“{name}”的扫码枪（如刚登记过，令牌已在上一页显示），请换一个名称"
        raise ValidationFailed(message, fields={"name": message})
    return name


def register(session, *, institution_id: int, name: str, mode: str, class_id: int | None,
             session_id: int | None, actor: audit.Actor) -> tuple[ScanDevice, str]:
    """A new device and its token: the only time the token exists in the clear."""
    name = _name(session, institution_id, name)
    class_id, session_id = _target(session, institution_id, mode, class_id, session_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = ScanDevice(institution_id=institution_id, name=name, mode=mode, class_id=class_id,
                        session_id=session_id, token_hash=hash_token(token), configured_at=utcnow())
    session.add(device)
    session.flush()
    audit.record(session, actor, "scanner.device.register", institution_id=institution_id,
                 details={"device_id": device.id, "name": name, "mode": mode})
    session.commit()
    return device, token


def configure(session, device: ScanDevice, *, mode: str, class_id: int | None, session_id: int | None,
              actor: audit.Actor) -> ScanDevice:
    if not actor.for_institution(device.institution_id):
        raise OutOfScope()
    class_id, session_id = _target(session, device.institution_id, mode, class_id, session_id)
    if (device.mode, device.class_id, device.session_id) != (mode, class_id, session_id):
        # Only a change of use: a scan queued before a save that changed nothing is judged as read.
        device.mode, device.class_id, device.session_id, device.configured_at = mode, class_id, session_id, utcnow()
    audit.record(session, actor, "scanner.device.configure", institution_id=device.institution_id,
                 details={"device_id": device.id, "mode": mode, "class_id": device.class_id,
                          "session_id": device.session_id})
    session.commit()
    return device


def revoke(session, device: ScanDevice, actor: audit.Actor) -> None:
    if not actor.for_institution(device.institution_id):
        raise OutOfScope()
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        audit.record(session, actor, "scanner.device.revoke", institution_id=device.institution_id,
                     details={"device_id": device.id, "name": device.name})
    session.commit()
