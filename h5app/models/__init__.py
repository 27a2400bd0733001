"""All models, imported here so Alembic and the app see the whole schema."""
from .audit import AuditEvent
from .certificates import Certificate
from .classes import (
    CheckIn, ClassRating, ClassSession, Enrolment, ExamResult, TraineeRating, TrainingClass, class_sites,
)
from .institutions import Institution, Site, Strike
from .integration import ApiKey, Channel, IdempotencyRecord, ScanDevice, SmsCode, SsoNonce
from .jobs import Job
from .notifications import Notification
from .people import PRIORITY_GROUPS, Person, PersonRecordChange
from .regions import Policy, Region, enclosing_codes, in_region, region_covers, region_prefix, under_prefix
from .settlement import PayeeAccount, PaymentBatch, Settlement, SettlementLine
from .staff import StaffUser
from .statistics import KpiTarget, RegionTarget, StatsRollup, VoucherMonthlyStat
from .vouchers import Issuance, Voucher, VoucherTemplate

__all__ = [
    "ApiKey", "AuditEvent", "Certificate", "Channel", "CheckIn", "ClassRating", "ClassSession",
    "Enrolment", "ExamResult", "IdempotencyRecord", "Institution", "Issuance", "Job", "KpiTarget", "Notification",
    "PRIORITY_GROUPS", "PayeeAccount", "PaymentBatch", "Person", "PersonRecordChange", "Policy", "Region", "RegionTarget", "ScanDevice", "Settlement", "SettlementLine",
    "Site", "SmsCode", "SsoNonce", "StaffUser", "StatsRollup", "Strike", "TraineeRating", "TrainingClass", "Voucher",
    "VoucherMonthlyStat", "VoucherTemplate", "class_sites", "enclosing_codes", "in_region", "region_covers", "region_prefix", "under_prefix",
]

# Scanner bridge (issue 7): scan records of the front-desk scan guns.
from .scanning import ScanRecord  # noqa: E402

__all__ += ["ScanRecord"]

# Background tasks (issue 18): imports and population issuances with progress.
from .tasks import BackgroundTask  # noqa: E402

__all__ += ["BackgroundTask"]

# 开班申请 and 开班审核 (issue 19): teachers, review steps, changes after approval.
from .class_review import ClassChange, ClassReview, ClassTeacher  # noqa: E402

__all__ += ["ClassChange", "ClassReview", "ClassTeacher"]

# 补签 (issue 19): attendance corrections with evidence, decided by the bureau.
from .attendance import AttendanceCorrection  # noqa: E402

__all__ += ["AttendanceCorrection"]
