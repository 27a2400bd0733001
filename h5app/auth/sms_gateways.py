"""SMS gateway backends: Alibaba Cloud SMS (短信服务, SMS_BACKEND=aliyun) and Tencent Cloud SMS
(SMS_BACKEND=tencent), each through the provider's official Python SDK.

A code is sent with the sign name (短信签名) and template (短信模板) the provider approved, both
settings; SMS_TEMPLATE_PARAMS says what fills the template (`{code}` and `{minutes}` are
replaced): `name=value` pairs for Alibaba Cloud's named parameters (default `code={code}`), plain
values in order for Tencent Cloud's numbered ones (default `{code}`). SMS_ENDPOINT replaces the
provider's public endpoint (a government cloud's own, or the tests' fake: `http://127.0.0.1:port`).

Any failure — refused by the provider, an error status, no answer within SMS_TIMEOUT_SECONDS — is
logged with the phone masked and raised as GatewayError, which the sign-in page turns into "try
again"; no code is stored, so the worker may ask again at once."""
import json
import logging
from urllib.parse import urlsplit

from flask import current_app

from ..identity import mask_phone, mask_text

log = logging.getLogger("h5app.sms")
_CLIENT = "sms_gateway_client"


class GatewayError(Exception):
    """The provider did not take the message."""


def _template_values(config, code: str, minutes: int, default: str) -> list[tuple[str | None, str]]:
    values = []
    for item in (config.get("SMS_TEMPLATE_PARAMS") or default).split(","):
        name, _, value = item.strip().rpartition("=")
        values.append((name.strip() or None, value.strip().replace("{code}", code).replace("{minutes}", str(minutes))))
    return values


def _endpoint(config) -> tuple[str | None, str]:
    """(host[:port], scheme) of SMS_ENDPOINT, or (None, https): the SDK's own public endpoint."""
    endpoint = config.get("SMS_ENDPOINT")
    if not endpoint:
        return None, "https"
    parts = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
    return parts.netloc, parts.scheme


def _client(build):
    """One SDK client per app and process (it keeps its HTTP connections)."""
    client = current_app.extensions.get(_CLIENT)
    if client is None:
        client = current_app.extensions.setdefault(_CLIENT, build(current_app.config))
    return client


def _failed(provider: str, phone: str, detail: str) -> GatewayError:
    log.error("短信发送失败 SMS gateway %s refused or failed for %s: %s", provider, mask_phone(phone), mask_text(detail))
    return GatewayError(detail)


# --- Alibaba Cloud SMS (dysmsapi 2017-05-25) --------------------------------------------------------

def _aliyun_client(config):
    from alibabacloud_dysmsapi20170525.client import Client
    from alibabacloud_tea_openapi import models as openapi

    host, scheme = _endpoint(config)
    return Client(openapi.Config(
        access_key_id=config["SMS_ACCESS_KEY_ID"], access_key_secret=config["SMS_ACCESS_KEY_SECRET"],
        region_id=config.get("SMS_REGION") or "cn-hangzhou", endpoint=host or "dysmsapi.aliyuncs.com",
        protocol=scheme))


def aliyun_backend(phone: str, text: str, code: str | None = None, minutes: int = 5) -> None:
    from alibabacloud_dysmsapi20170525 import models
    from alibabacloud_tea_util import models as util

    config = current_app.config
    timeout_ms = int(config["SMS_TIMEOUT_SECONDS"] * 1000)
    params = {name or "code": value for name, value in _template_values(config, code or "", minutes, "code={code}")}
    request = models.SendSmsRequest(phone_numbers=phone, sign_name=config["SMS_SIGN_NAME"],
                                    template_code=config["SMS_TEMPLATE_ID"],
                                    template_param=json.dumps(params, ensure_ascii=False))
    try:
        answer = _client(_aliyun_client).send_sms_with_options(
            request, util.RuntimeOptions(connect_timeout=timeout_ms, read_timeout=timeout_ms, autoretry=False))
    except Exception as error:  # the SDK's network, status and signature errors alike
        raise _failed("aliyun", phone, f"{type(error).__name__}: {error}") from None
    body = answer.body
    if body is None or body.code != "OK":
        raise _failed("aliyun", phone, f"{getattr(body, 'code', None)}: {getattr(body, 'message', None)} "
                                       f"(RequestId {getattr(body, 'request_id', None)})")
    log.info("短信已发送 SMS sent via aliyun to %s (BizId %s)", mask_phone(phone), body.biz_id)


# --- Tencent Cloud SMS (sms 2021-01-11) ----------------------------------------------------------

def _tencent_client(config):
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.sms.v20210111 import sms_client

    host, scheme = _endpoint(config)
    http = HttpProfile(endpoint=host or "sms.tencentcloudapi.com", reqTimeout=max(1, round(config["SMS_TIMEOUT_SECONDS"])))
    http.scheme = scheme
    return sms_client.SmsClient(credential.Credential(config["SMS_ACCESS_KEY_ID"], config["SMS_ACCESS_KEY_SECRET"]),
                                config.get("SMS_REGION") or "ap-guangzhou", ClientProfile(httpProfile=http))


def tencent_backend(phone: str, text: str, code: str | None = None, minutes: int = 5) -> None:
    from tencentcloud.sms.v20210111 import models

    config = current_app.config
    request = models.SendSmsRequest()
    request.SmsSdkAppId, request.SignName = config["SMS_APP_ID"], config["SMS_SIGN_NAME"]
    request.TemplateId, request.PhoneNumberSet = config["SMS_TEMPLATE_ID"], ["+86" + phone]
    request.TemplateParamSet = [value for _, value in _template_values(config, code or "", minutes, "{code}")]
    try:
        answer = _client(_tencent_client).SendSms(request)
    except Exception as error:  # TencentCloudSDKException, and whatever the network raises
        raise _failed("tencent", phone, f"{type(error).__name__}: {error}") from None
    status = (answer.SendStatusSet or [None])[0]
    if status is None or status.Code != "Ok":
        raise _failed("tencent", phone, f"{getattr(status, 'Code', None)}: {getattr(status, 'Message', None)} "
                                        f"(RequestId {answer.RequestId})")
    log.info("短信已发送 SMS sent via tencent to %s (SerialNo %s)", mask_phone(phone), status.SerialNo)


BACKENDS = {"aliyun": aliyun_backend, "tencent": tencent_backend}
