"""Delivering queued scans to the server: POST /scanner/v1/scans (one) or /scans/batch (a backlog,
in read order, in one round trip), with the device token and each scan's idempotency key.

What the server answers decides what happens to a scan: a verdict (any verdict, refusals included)
→ done, remove it; 400/422 for this scan → it can never be accepted, log and remove it; 401/403 →
the token was refused (revoked?), keep everything and retry slowly; 409, 5xx,
timeouts, connection errors → keep it and retry with back-off."""
import logging
import time
from dataclasses import dataclass

import requests

from .queue import Item

log = logging.getLogger("scanner_bridge.sender")


class TokenRefused(Exception):
    """401/403: no scan can be delivered until the device token is fixed."""


class ServerUnavailable(Exception):
    """Down, slow, or answering something we cannot read: try again later."""


@dataclass(frozen=True)
class Outcome:
    item: Item
    verdict: dict | None = None  # the server's stored verdict
    error: dict | None = None  # {"code", "message"}
    retry: bool = False  # keep the scan and send it again

    @property
    def done(self) -> bool:
        return not self.retry


class Sender:
    def __init__(self, server: str, token: str, *, timeout: float = 10.0, verify: bool | str = True,
                 session: requests.Session | None = None):
        self.base = server.rstrip("/") + "/scanner/v1"
        self.timeout = (min(timeout, 5.0), timeout)  # (connect, read)
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "User-Agent": "scanner-bridge/1.0"})
        self.session.verify = verify

    def _post(self, path: str, payload: dict, headers: dict | None = None) -> requests.Response:
        try:
            response = self.session.post(self.base + path, json=payload, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ServerUnavailable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code in (401, 403):
            raise TokenRefused(_error_of(response).get("message") or f"HTTP {response.status_code}")
        if response.status_code >= 500 or response.status_code in (404, 405, 429):
            raise ServerUnavailable(f"HTTP {response.status_code}")
        return response

    def whoami(self) -> dict:
        try:
            response = self.session.get(self.base + "/device", timeout=self.timeout)
        except requests.RequestException as exc:
            raise ServerUnavailable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code in (401, 403):
            raise TokenRefused(_error_of(response).get("message") or f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise ServerUnavailable(f"HTTP {response.status_code}")
        return response.json()

    def deliver(self, items: list[Item], now: float | None = None) -> list[Outcome]:
        now = time.time() if now is None else now
        if len(items) == 1:
            return [self._deliver_one(items[0], now)]
        payload = {"scans": [_scan(item, now) for item in items]}
        response = self._post("/scans/batch", payload)
        try:
            results = response.json()["results"]
            assert isinstance(results, list) and len(results) == len(items)
        except (ValueError, KeyError, TypeError, AssertionError):
            if response.status_code in (400, 422):
                # The batch as a whole was refused: fall back to one by one, so one bad scan is
                # found and dropped without holding the others.
                return [self._deliver_one(items[0], now)]
            raise ServerUnavailable(f"unreadable batch answer (HTTP {response.status_code})") from None
        outcomes = []
        for item, result in zip(items, results):
            if not isinstance(result, dict) or (result.get("key") not in (None, item.key)):
                raise ServerUnavailable("batch answer out of order")
            if "error" in result:
                outcomes.append(Outcome(item, error=result["error"], retry=bool(result.get("retry"))))
            else:
                outcomes.append(Outcome(item, verdict=result))
        return outcomes

    def _deliver_one(self, item: Item, now: float) -> Outcome:
        response = self._post("/scans", _scan(item, now), headers={"Idempotency-Key": item.key})
        body = _json(response)
        if response.status_code in (200, 201) and "result" in body:
            return Outcome(item, verdict=body)
        error = _error_of(response) or {"code": f"HTTP_{response.status_code}", "message": ""}
        if response.status_code in (400, 422):
            return Outcome(item, error=error)  # never acceptable: drop it
        return Outcome(item, error=error, retry=True)


def _scan(item: Item, now: float) -> dict:
    return {"key": item.key, "code": item.code, "age_ms": max(0, int((now - item.read_at) * 1000))}


def _json(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_of(response) -> dict:
    error = _json(response).get("error")
    return error if isinstance(error, dict) else {}
