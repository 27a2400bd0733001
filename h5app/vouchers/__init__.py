"""The voucher engine: pure rules (rules.py, qrtoken.py) and service functions that take a
session, an actor and inputs, enforce PRODUCT.md §4, and raise named DomainErrors.
No Flask request in sight: the pages, the API and the scanner bridge all call these."""
import hashlib
import hmac

from flask import current_app


def app_qr_secret() -> bytes:
    """The QR signing key: QR_SECRET when set, else derived from SECRET_KEY (never the key itself)."""
    configured = current_app.config.get("QR_SECRET")
    if configured:
        return configured.encode()
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"voucher-qr-token", hashlib.sha256).digest()
