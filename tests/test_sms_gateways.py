"""SMS sign-in through a real gateway backend (h5app/auth/sms_gateways.py): Alibaba Cloud's and
Tencent Cloud's official SDKs talking to a local fake of the provider's HTTP endpoint. The code
the provider is asked to send is the one that signs the worker in; a provider's refusal or an
unreachable provider is logged with the phone masked, stores no code, and tells the worker to
ask again — which works at once."""
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from h5app.config import ConfigError
from h5app.models import SmsCode

from .auth_support import PHONE, enter_code, request_code, text_of
from .scanner_processes import free_port

RETRY = "短信发送失败，请稍后重新获取验证码"


class FakeProvider:
    """Answers like the provider: `mode` is "ok", "refused" (the provider's own error) or "broken" (HTTP 500)."""

    def __init__(self):
        self.requests, self.mode = [], "ok"
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, answer = fake.answer(self.headers)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, headers):
        tencent = "X-TC-Action" in headers
        if self.mode == "broken":
            return 500, {"message": "internal error"}
        if tencent:
            if self.mode == "refused":
                return 200, {"Response": {"Error": {"Code": "LimitExceeded.PhoneNumberDailyLimit",
                                                    "Message": f"手机号 {PHONE} 当日发送量超过上限"}, "RequestId": "t-1"}}
            return 200, {"Response": {"SendStatusSet": [{"SerialNo": "2640:1", "PhoneNumber": "+86" + PHONE, "Fee": 1,
                                                         "Code": "Ok", "Message": "send success", "IsoCode": "CN"}],
                                      "RequestId": "t-1"}}
        if self.mode == "refused":
            return 200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": f"触发号码天级流控 {PHONE}", "RequestId": "a-1"}
        return 200, {"Code": "OK", "Message": "OK", "BizId": "9006^0", "RequestId": "a-1"}

    def sent_code(self) -> str:
        """The verification code in the last request, as the provider would put it in the SMS."""
        last = self.requests[-1]
        if "X-TC-Action" in last["headers"]:
            return json.loads(last["body"])["TemplateParamSet"][0]
        return json.loads(parse_qs(urlsplit(last["path"]).query)["TemplateParam"][0])["code"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


SETTINGS = {
    "aliyun": {"SMS_BACKEND": "aliyun", "SMS_ACCESS_KEY_ID": "LTAI-test", "SMS_ACCESS_KEY_SECRET": "secret",
               "SMS_SIGN_NAME": "绍兴人社", "SMS_TEMPLATE_ID": "SMS_465000001"},
    "tencent": {"SMS_BACKEND": "tencent", "SMS_ACCESS_KEY_ID": "AKID-test", "SMS_ACCESS_KEY_SECRET": "secret",
                "SMS_SIGN_NAME": "绍兴人社", "SMS_TEMPLATE_ID": "2264001", "SMS_APP_ID": "1400000001",
                "SMS_TEMPLATE_PARAMS": "{code},{minutes}"},
}


def stored_codes(session) -> int:
    count = session.scalar(select(func.count(SmsCode.id)))
    session.commit()  # the other app's next request must not wait for our read (SQLite)
    return count


@pytest.fixture
def provider():
    fake = FakeProvider()
    yield fake
    fake.close()


@pytest.fixture(params=["aliyun", "tencent"])
def gateway(request, make_app, provider):
    app = make_app(**SETTINGS[request.param], SMS_ENDPOINT=provider.url, SMS_TIMEOUT_SECONDS=5)
    return request.param, app, app.test_client()


def test_the_code_the_provider_sends_signs_the_worker_in(gateway, provider, session):
    name, app, client = gateway
    assert request_code(client).status_code == 302
    sent = provider.requests[-1]
    assert sent["headers"]["Authorization"].startswith("ACS3-HMAC-SHA256" if name == "aliyun" else "TC3-HMAC-SHA256")
    if name == "aliyun":
        query = parse_qs(urlsplit(sent["path"]).query)
        assert query["PhoneNumbers"] == [PHONE] and query["SignName"] == ["绍兴人社"]
        assert query["TemplateCode"] == ["SMS_465000001"]
    else:
        body = json.loads(sent["body"])
        assert body["PhoneNumberSet"] == ["+86" + PHONE] and body["SmsSdkAppId"] == "1400000001"
        assert body["SignName"] == "绍兴人社" and body["TemplateId"] == "2264001"
        assert body["TemplateParamSet"][1] == "5"  # {minutes}
    code = provider.sent_code()
    assert len(code) == 6 and code.isdigit()
    response = enter_code(client, code)
    assert response.status_code == 302 and "/bind" in response.headers["Location"]  # a new phone: real-name step


@pytest.mark.parametrize("mode", ["refused", "broken"])
def test_a_failed_send_is_logged_masked_stores_nothing_and_the_worker_may_ask_again(gateway, provider, session, caplog,
                                                                                    mode):
    name, app, client = gateway
    provider.mode = mode
    with caplog.at_level(logging.ERROR, logger="h5app.sms"):
        response = request_code(client)
    assert response.status_code == 400 and RETRY in text_of(response)
    assert stored_codes(session) == 0
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert name in logged and "138****0099" in logged and PHONE not in logged
    provider.mode = "ok"
    assert request_code(client).status_code == 302  # no 60-second wait after a failure
    assert stored_codes(session) == 1


def test_an_unreachable_provider_tells_the_worker_to_retry(make_app, session):
    app = make_app(**SETTINGS["aliyun"], SMS_ENDPOINT=f"http://127.0.0.1:{free_port()}", SMS_TIMEOUT_SECONDS=2)
    response = request_code(app.test_client())
    assert response.status_code == 400 and RETRY in text_of(response)
    assert stored_codes(session) == 0


@pytest.mark.parametrize("backend,missing", [("aliyun", "SMS_SIGN_NAME"), ("tencent", "SMS_APP_ID")])
def test_a_gateway_without_its_account_refuses_to_start(make_app, backend, missing):
    settings = {**SETTINGS[backend], missing: None}
    with pytest.raises(ConfigError, match=missing):
        make_app(**settings)


def test_an_unknown_sms_backend_refuses_to_start(make_app):
    with pytest.raises(ConfigError, match="SMS_BACKEND"):
        make_app(SMS_BACKEND="smtp")
