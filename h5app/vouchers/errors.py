"""Named domain errors. Each carries the API error code, the HTTP status and a Chinese message
a worker or a front-desk clerk can act on. Views and the API only translate them."""


class DomainError(Exception):
    code = "DOMAIN_ERROR"
    status = 409
    default_message = "操作未能完成"

    def __init__(self, message: str | None = None, **details):
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


def _error(name: str, code: str, message: str, status: int = 409) -> type[DomainError]:
    return type(name, (DomainError,), {"code": code, "default_message": message, "status": status})


QrInvalid = _error("QrInvalid", "QR_INVALID", "二维码无效，请让学员打开“我的卡券”重新出示")
QrExpired = _error("QrExpired", "QR_EXPIRED", "二维码已过期（超过60秒），请让学员刷新后重新出示")
VoucherNotFound = _error("VoucherNotFound", "VOUCHER_NOT_FOUND", "未找到该培训券", 404)
PersonMismatch = _error("PersonMismatch", "PERSON_MISMATCH", "该培训券不属于出示人，培训券限本人使用")
VoucherNotClaimed = _error("VoucherNotClaimed", "VOUCHER_NOT_CLAIMED", "该培训券尚未领取，请先在“卡券中心”领取")
VoucherAlreadyUsed = _error("VoucherAlreadyUsed", "VOUCHER_ALREADY_USED", "该培训券已使用")
AlreadyInClass = _error("AlreadyInClass", "ALREADY_IN_CLASS", "该学员已用另一张培训券参加本班期")
VoucherExpired = _error("VoucherExpired", "VOUCHER_EXPIRED", "该培训券已过有效期")
VoucherRevoked = _error("VoucherRevoked", "VOUCHER_REVOKED", "该培训券已作废")
VoucherSettled = _error("VoucherSettled", "VOUCHER_SETTLED", "该培训券已核销")
NotApplicable = _error("NotApplicable", "NOT_APPLICABLE", "该培训券不适用于本班期")
InstitutionSuspended = _error("InstitutionSuspended", "INSTITUTION_SUSPENDED", "本机构已被暂停验券资格")
YearlyLimitReached = _error("YearlyLimitReached", "YEARLY_LIMIT_REACHED", "已达到本年度使用次数上限")
NotEligible = _error("NotEligible", "NOT_ELIGIBLE", "不符合领取条件")
ClaimClosed = _error("ClaimClosed", "CLAIM_CLOSED", "不在领取时间内")
OutOfStock = _error("OutOfStock", "OUT_OF_STOCK", "该培训券已领完")
AlreadyClaimed = _error("AlreadyClaimed", "ALREADY_CLAIMED", "您已领取过该培训券")
ClassNotFound = _error("ClassNotFound", "NOT_FOUND", "班期不存在", 404)
ClassNotOpen = _error("ClassNotOpen", "CLASS_NOT_OPEN", "该班期未开放")
ClassPendingReview = _error("ClassPendingReview", "CLASS_PENDING_REVIEW", "该班期正在等待开班审核，审核通过后才能开班")
ClassNotFinished = _error("ClassNotFinished", "CLASS_NOT_FINISHED", "班期还有课次未结束，不能结业")
PlanChanged = _error("PlanChanged", "PLAN_CHANGED", "发放名单已变化，请重新核对后再确认")
AlreadyEnrolled = _error("AlreadyEnrolled", "ALREADY_ENROLLED", "您已报名该班期")
ClassFull = _error("ClassFull", "CLASS_FULL", "该班期名额已满")
AlreadyRated = _error("AlreadyRated", "ALREADY_RATED", "您已评价过该班期")
NotEnrolled = _error("NotEnrolled", "NOT_ENROLLED", "未报名该班期")
OutsideSite = _error("OutsideSite", "OUTSIDE_SITE", "不在培训地点范围内")
OutsideSessionTime = _error("OutsideSessionTime", "OUTSIDE_SESSION_TIME", "不在课次签到时间内")
InvalidTransition = _error("InvalidTransition", "INVALID_STATE", "培训券当前状态不允许此操作")
SettlementError = _error("SettlementError", "SETTLEMENT_INVALID", "结算申请无法处理")
PayeeMissing = _error("PayeeMissing", "PAYEE_MISSING", "收款方尚未登记收款账户，不能拨付")
AmountAboveMaximum = _error("AmountAboveMaximum", "AMOUNT_ABOVE_MAXIMUM", "审核金额不能高于该行的补贴上限")
DutySegregation = _error("DutySegregation", "SEGREGATION_OF_DUTIES", "审核人不能同时办理拨付", 403)
OutOfScope = _error("OutOfScope", "FORBIDDEN", "无权操作该对象", 403)
ValidationFailed = _error("ValidationFailed", "VALIDATION_FAILED", "提交的数据有误", 422)
# 通用券 to a matched population (issue 18): the count confirmed is no longer the count found.
PopulationChanged = _error("PopulationChanged", "POPULATION_CHANGED", "符合条件的人数已有变化，请重新预览后再确认")
# 补签 and 线上培训 (issue 19)
CorrectionPending = _error("CorrectionPending", "CORRECTION_PENDING", "该学员本次课已有待审核的补签申请")
CorrectionReviewed = _error("CorrectionReviewed", "CORRECTION_REVIEWED", "该补签申请已审核")
AlreadyCheckedIn = _error("AlreadyCheckedIn", "ALREADY_CHECKED_IN", "该学员本次课已签到，无需补签")
ClassNotOnline = _error("ClassNotOnline", "CLASS_NOT_ONLINE", "该班期不是线上班期")
ClassIsOnline = _error("ClassIsOnline", "CLASS_ONLINE", "线上班期无需签到，学习时长由线上培训平台报送")
ConcurrentChange = _error("ConcurrentChange", "CONCURRENT_CHANGE", "同一记录正在被其他操作修改，请稍后重新提交")
# 取消班期, 退班 and 签退 (issue 19)
ClassCancelled = _error("ClassCancelled", "CLASS_CANCELLED", "该班期已取消")
ClassCompleted = _error("ClassCompleted", "CLASS_COMPLETED", "该班期已结业")
ClassStarted = _error("ClassStarted", "CLASS_STARTED", "班期已开课，培训机构不能再取消，如确需取消请联系人社部门")
AlreadyAttending = _error("AlreadyAttending", "ALREADY_ATTENDING", "该学员已参加培训，不能退班")
NotCheckedIn = _error("NotCheckedIn", "NOT_CHECKED_IN", "本次课还没有签到，请先签到")
# The worker's own 签到 after their 签退, and a 签退 moments after the 签到 (most likely a slip)
AlreadyCheckedOut = _error("AlreadyCheckedOut", "ALREADY_CHECKED_OUT", "本次课已签退，不能再签到")
CheckOutTooSoon = _error("CheckOutTooSoon", "CHECK_OUT_TOO_SOON", "刚签到不久，确实要提前离开请确认后再签退")
