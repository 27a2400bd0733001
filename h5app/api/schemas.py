"""Request and response models of the partner API (API.md). The OpenAPI document is generated
from them; field names are the contract."""
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints, ValidationInfo, field_validator,
    model_validator,
)

from ..vouchers.classes import MAX_LESSONS
from ..vouchers.lifecycle import MAX_REVOKE_CODES

Id = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
Fen = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
Count = Annotated[StrictInt, Field(ge=0, le=100000)]
# Text is read without the spaces around it: a name of spaces alone is no name.
Text16 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
Text32 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Text64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Text120 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
IdNumber = Annotated[str, Field(min_length=1, max_length=32, description="18位公民身份号码（GB 11643 校验）")]
Phone = Annotated[str, Field(max_length=20)]
RegionCode = Annotated[str, Field(pattern=r"^[0-9]{6}$")]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lng = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Hours = Annotated[float, Field(gt=0, le=10000, allow_inf_nan=False)]
QrText = Annotated[str, Field(min_length=1, max_length=128, description="扫描得到的动态二维码内容")]
VoucherCode = Annotated[str, Field(min_length=1, max_length=32)]
Iso = Annotated[str, Field(description="ISO 8601，+08:00")]


class In(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---- errors -------------------------------------------------------------------------------------

class RowProblem(BaseModel):
    index: int
    code: str
    message: str
    field: str | None = None
    voucher_code: str | None = None


class ErrorBody(BaseModel):
    code: str = Field(examples=["VOUCHER_ALREADY_USED"])
    message: str = Field(examples=["该培训券已使用"])
    fields: dict[str, str] | None = None
    rows: list[RowProblem] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


# ---- shared shapes ------------------------------------------------------------------------------

class PersonIn(In):
    id_number: IdNumber
    name: Annotated[str, Field(min_length=1, max_length=30)]
    phone: Phone | None = None


class PersonOut(BaseModel):
    name: str
    id_number: str = Field(description="脱敏（3202********1234），持有该记录的人社部门除外")


class VoucherOut(BaseModel):
    code: str
    status: Literal["offered", "claimed", "used", "settled", "expired", "revoked"]
    template_id: int
    function_mode: Literal["face_value", "credential"]
    distribution_mode: Literal["general", "directed"]
    face_value_fen: int | None
    claimed_at: Iso | None
    expires_at: Iso | None
    used_at: Iso | None
    class_id: int | None
    institution_code: str | None
    settled_at: Iso | None


# ---- templates ----------------------------------------------------------------------------------

class TemplateIn(In):
    name: Text120
    voucher_type: Text64 | None = None
    region_code: RegionCode
    function_mode: Literal["face_value", "credential"]
    distribution_mode: Literal["general", "directed"]
    face_value_fen: Fen | None = None
    standard_fen: Fen | None = None
    eligible_groups: Annotated[list[Text32], Field(max_length=20)] = []
    min_insurance_months: Annotated[StrictInt, Field(ge=0, le=1200)] | None = None
    occupation: Text64 | None = None
    level: Text16 | None = None
    project_types: Annotated[list[Text32], Field(max_length=20)] = []
    claim_starts_on: date
    claim_ends_on: date
    valid_until: date | None = None
    valid_days: Annotated[StrictInt, Field(ge=1, le=3660)] | None = None
    audience: Literal["open", "targeted"] = "open"
    stock: Annotated[StrictInt, Field(ge=0, le=10_000_000)] | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    policy_code: Text32 | None = Field(None, description="地区政策编码（default、wuxi、shaoxing、chongqing 等）；"
                                                         "不填为模板所在地区的政策，与制券页面一致")


class TemplateOut(BaseModel):
    id: int
    name: str
    voucher_type: str
    region_code: str
    function_mode: str
    distribution_mode: str
    face_value_fen: int | None
    standard_fen: int | None
    eligible_groups: list[str]
    occupation: str | None
    level: str | None
    project_types: list[str]
    claim_starts_on: str
    claim_ends_on: str
    valid_until: str | None
    valid_days: int | None
    stock: int | None
    remaining_stock: int | None
    status: str
    policy_code: str | None = Field(description="适用的地区政策编码")


class TemplateList(BaseModel):
    templates: list[TemplateOut]


class IssuanceIn(In):
    people: Annotated[list[PersonIn], Field(min_length=1, max_length=10000)]
    class_id: Id | None = None


class IssueRejected(BaseModel):
    id_number: str
    code: str
    message: str


class IssuanceOut(BaseModel):
    issuance_id: int
    done: list[VoucherOut]
    rejected: list[IssueRejected]


# ---- vouchers -----------------------------------------------------------------------------------

class PersonVouchers(BaseModel):
    person: PersonOut
    vouchers: list[VoucherOut]


class RevocationIn(In):
    codes: Annotated[list[VoucherCode], Field(min_length=1, max_length=MAX_REVOKE_CODES)]
    reason: Text200


class RevokeRejected(BaseModel):
    voucher_code: str
    code: str
    message: str


class RevocationOut(BaseModel):
    done: list[str]
    rejected: list[RevokeRejected]


# ---- institutions and classes ------------------------------------------------------------------

class SiteIn(In):
    lat: Lat
    lng: Lng
    radius_m: Annotated[StrictInt, Field(ge=10, le=100000)] = 300


class PayeeIn(In):
    """收款账户; each value is checked by the rule the pages use (payees.clean_account), in its words."""

    account_name: Annotated[str, Field(max_length=100, description="户名")]
    bank_name: Annotated[str, Field(max_length=100, description="开户行")]
    account_number: Annotated[str, Field(max_length=40, description="账号（数字，可含空格或短横线）")]


class PayeeUpdate(PayeeIn):
    """PUT …/payee: the account as API.md writes it, {"payee": {"account_name", "bank_name",
    "account_number"}}; the three fields given at the top level are taken too."""

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data):
        if isinstance(data, dict) and isinstance(data.get("payee"), dict):
            return data["payee"]  # the account as API.md writes it; anything beside it is ignored
        return data


class InstitutionIn(In):
    code: Annotated[str, Field(min_length=1, max_length=20)]
    name: Text120
    region_code: RegionCode
    address: Text200
    phone: Phone
    type: Text32 = "other"
    officer_name: Annotated[str, Field(min_length=1, max_length=30)]
    officer_id_number: IdNumber
    sites: Annotated[list[SiteIn], Field(min_length=1, max_length=50)]
    payee: PayeeIn | None = Field(None, description="收款账户（选填）：人社部门录入，即时生效")


class InstitutionsIn(In):
    institutions: Annotated[list[InstitutionIn], Field(min_length=1, max_length=1000)]


class SiteOut(BaseModel):
    id: int = Field(description="培训地点编号（创建班期时的 site）")
    lat: float
    lng: float
    radius_m: int


class InstitutionOut(BaseModel):
    id: int
    code: str
    name: str
    region_code: str
    officer_username: str
    officer_password: str = Field(description="机构专员初始密码，只返回这一次")
    sites: list[SiteOut] = Field(description="按提交顺序创建的培训地点")


class InstitutionsOut(BaseModel):
    institutions: list[InstitutionOut]


class SessionIn(In):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    hours: Hours


class TeacherIn(In):
    name: Annotated[str, Field(min_length=1, max_length=30)]
    certificate_number: Annotated[str, Field(min_length=1, max_length=40, description="教师资格或职业技能等级证书编号")]


class TeacherOut(BaseModel):
    name: str
    certificate_number: str


class ClassIn(In):
    course_name: Text120
    occupation: Text64
    level: Text16 | None = None
    project_type: Text32
    hours: Hours | None = None
    starts_on: date
    ends_on: date
    price_fen: Fen = 0
    capacity: Annotated[StrictInt, Field(ge=1, le=100000)] | None = None
    sessions: Annotated[list[SessionIn], Field(max_length=MAX_LESSONS)] = []
    site_id: Id | None = Field(None, description="同 site（旧名，仍然接受）")
    site: Id | None = Field(None, description="本机构的培训地点编号；不填为第一个地点。与 site_id 同时提交时须一致")
    delivery: Literal["offline", "online"] = Field(
        "offline", description="培训方式：offline 线下（到培训地点上课、签到），online 线上（无培训地点；劳动者本人确认用券，"
                               "学习时长由 POST /classes/{id}/study-records 报送，计入打卡率）")
    status: Literal["draft", "open"] = Field("open", description="开班须经审核的地区（地区政策 class_review_required）"
                                                        "不看此项：班期为 pending_review，审核通过后开放报名")
    teaching_plan: Annotated[str, Field(max_length=5000)] | None = Field(
        None, description="教学计划（培训内容、课时安排、考核方式）；开班须经审核的地区必填")
    teachers: Annotated[list[TeacherIn], Field(max_length=30)] = Field(
        [], description="授课教师及其证书编号；开班须经审核的地区至少一位")

    @field_validator("site")
    @classmethod
    def _site_agrees_with_site_id(cls, site, info: ValidationInfo):
        other = info.data.get("site_id")
        if site is not None and other is not None and site != other:
            raise ValueError(f"site（{site}）与 site_id（{other}）不一致，只需填写 site")
        return site

    @property
    def site_given(self) -> int | None:
        """The site asked for, under either name."""
        return self.site if self.site is not None else self.site_id


class SessionOut(BaseModel):
    id: int
    starts_at: Iso
    ends_at: Iso
    hours: float


class ClassOut(BaseModel):
    id: int
    institution_code: str
    course_name: str
    occupation: str
    level: str | None
    project_type: str
    hours: float
    starts_on: str
    ends_on: str
    status: str = Field(description="draft、open、closed、completed；开班审核中为 pending_review，退回修改为 returned")
    site_id: int | None
    sessions: list[SessionOut]
    delivery: Literal["offline", "online"] = "offline"
    teaching_plan: str | None = None
    teachers: list[TeacherOut] = []
    approved_at: Iso | None = Field(None, description="开班审核通过的时间；无需审核的班期为 null")
    review_reason: str | None = Field(None, description="退回修改的原因（status 为 returned 时）")


class ClassReviewIn(In):
    approve: StrictBool
    reason: Annotated[str, Field(max_length=500)] | None = Field(None, description="退回修改时必填：培训机构将看到的原因")


class TraineesIn(In):
    trainees: Annotated[list[PersonIn], Field(min_length=1, max_length=10000)]


class TraineesOut(BaseModel):
    added: int
    trainees: list[PersonOut]


class VerificationIn(In):
    qr: QrText
    class_id: Id


class VerificationOut(BaseModel):
    result: Literal["verified", "already_verified"]
    voucher: VoucherOut
    trainee: PersonOut


class LookupIn(In):
    qr: QrText


class LookupOut(BaseModel):
    trainee: PersonOut
    vouchers: list[VoucherOut]


class CheckinIn(In):
    session_id: Id
    qr: QrText


class CheckinOut(BaseModel):
    session_id: int
    class_id: int
    trainee: PersonOut
    method: str
    result: Literal["checked_in", "already_checked_in", "already_checked_out"] = Field(
        description="checked_in：本次扫码签到；already_checked_in：本次课此前已签到（返回原记录）；"
                    "already_checked_out：此前已签到并已签退")
    checked_in_at: Iso
    checked_out_at: Iso | None = None


class ResultIn(In):
    id_number: IdNumber
    passed: StrictBool


class ResultsIn(In):
    results: Annotated[list[ResultIn], Field(min_length=1, max_length=10000)]


class ResultsOut(BaseModel):
    class_id: int
    changed: int


# ---- settlements and certificates ----------------------------------------------------------------

class SettlementIn(In):
    class_id: Id
    codes: Annotated[list[VoucherCode], Field(min_length=1, max_length=10000)] | None = None


class PayeeOut(BaseModel):
    account_name: str
    bank_name: str
    account_number: str = Field(description="脱敏账号（前4位和后4位）")


class InstitutionPayeeOut(BaseModel):
    code: str = Field(description="机构编码")
    payee: PayeeOut
    status: Literal["active", "pending"] = Field(
        description="active：已生效（机构的第一个账户，或与生效账户相同）；pending：变更已生效的账户，"
                    "待人社部门另一名工作人员在机构页面确认，确认前拨付仍付至原账户")


class SettlementLineOut(BaseModel):
    code: str = Field(description="券码")
    voucher_code: str
    eligible: bool
    attendance_rate: float
    exam_passed: bool | None
    amount_fen: int = Field(description="按政策计算的补贴上限（面值或标准，不超过实际培训费）")
    reference_fen: int | None = Field(description="参考金额：券面值仅作参考的地区（重庆）为券面值")
    approved_amount_fen: int | None
    paid_amount_fen: int | None
    paid_at: Iso | None
    payment_reference: str | None
    failure_reason: str | None = Field(description="上次拨付失败的原因；该行回到待拨付")
    payee: PayeeOut | None
    reason: str | None
    decision: Literal["pending", "approved", "rejected"]
    decision_reason: str | None


class SettlementOut(BaseModel):
    id: int
    status: Literal["draft", "submitted", "reviewed", "paid", "rejected"]
    payee_kind: Literal["institution", "worker"]
    payee: PayeeOut | None = Field(description="当前收款账户（脱敏）；缺少时拨付会被拒绝 PAYEE_MISSING")
    class_id: int | None
    institution_code: str | None
    person: PersonOut | None
    region_code: str
    submitted_at: Iso | None
    reviewed_at: Iso | None
    paid_at: Iso | None
    approved_total_fen: int
    paid_total_fen: int
    lines: list[SettlementLineOut]


class SettlementSummary(BaseModel):
    id: int
    status: Literal["draft", "submitted", "reviewed", "paid", "rejected"]
    payee_kind: Literal["institution", "worker"]
    class_id: int | None
    institution_code: str | None
    region_code: str
    submitted_at: Iso | None
    paid_at: Iso | None
    lines: int
    approved_total_fen: int
    paid_total_fen: int


class SettlementListOut(BaseModel):
    settlements: list[SettlementSummary]
    count: int
    approved_total_fen: int
    paid_total_fen: int
    page: int
    pages: int


class RejectIn(In):
    code: VoucherCode
    reason: Text200


class ApproveIn(In):
    code: VoucherCode
    amount_fen: Fen


class ReviewIn(In):
    approve: Annotated[list[VoucherCode | ApproveIn], Field(max_length=10000)] = []
    reject: Annotated[list[RejectIn], Field(max_length=10000)] = []


class FailedIn(In):
    code: VoucherCode
    reason: Text200


class PaymentIn(In):
    reference: Text64 = Field(description="银行回单号 / 流水号")
    paid_on: date | None = Field(None, description="拨付日期，不填为今天")
    failed: Annotated[list[FailedIn], Field(max_length=10000)] = []


class CertificateIn(In):
    id_number: IdNumber
    name: Annotated[str, Field(min_length=1, max_length=30)]
    number: Text64
    occupation: Text64
    level: Text16 | None = None
    issued_on: date
    issuer: Text120
    certificate_name: Text120 | None = Field(None, description="证书名称；不填为“职业+等级证书”")


class CertificateOut(BaseModel):
    id: int
    number: str
    name: str
    occupation: str
    level: str | None
    issued_on: str
    issuer: str
    person: PersonOut


# ---- 补签 and online study (issue 19) ------------------------------------------------------------

class CorrectionIn(In):
    session_id: Id
    id_number: IdNumber
    reason: Annotated[str, Field(min_length=1, max_length=500, description="漏签的原因，至少4个字")]
    evidence_url: Annotated[str, Field(max_length=490)] | None = Field(
        None, description="佐证材料（如纸质签到表照片）的网址，http:// 或 https:// 开头")


class CorrectionReviewIn(In):
    approve: StrictBool
    reason: Annotated[str, Field(max_length=500)] | None = Field(None, description="不予通过时必填：培训机构将看到的原因")


class CorrectionOut(BaseModel):
    id: int
    status: Literal["pending", "approved", "refused"]
    session_id: int
    class_id: int
    institution_code: str
    trainee: PersonOut
    reason: str
    evidence_url: str | None
    has_evidence_photo: bool = Field(description="是否上传了签到表照片（在机构和人社部门的页面查看）")
    requested_at: Iso
    requested_by: str
    reviewed_at: Iso | None
    reviewed_by: str | None
    review_reason: str | None
    attendance_rate: float = Field(description="该学员在本班期当前的打卡率（0–1）；补签通过后计入")


class StudyRecordIn(In):
    id_number: IdNumber
    session_id: Id
    minutes: Annotated[StrictInt, Field(ge=0, le=1440, description="该课次的累计学习分钟数；再次报送以最新一次为准")]


class StudyRecordsIn(In):
    records: Annotated[list[StudyRecordIn], Field(min_length=1, max_length=10000)]


class StudyTraineeOut(BaseModel):
    trainee: PersonOut
    attendance_rate: float = Field(description="打卡率（0–1）：学习时长折算的课时 ÷ 总课时，每课次最多计满该课次课时")


class StudyRecordsOut(BaseModel):
    class_id: int
    saved: int = Field(description="写入或更新的学习记录条数（学习0分钟且此前没有记录的不计）")
    trainees: list[StudyTraineeOut]
