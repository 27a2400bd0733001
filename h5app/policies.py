"""Region policies as data. These presets are what the seed notices say; `flask demo` and the
bureau console store them as rows of the `policies` table, where a bureau can adjust them."""

DEFAULT = "default"
WUXI = "wuxi"
SHAOXING = "shaoxing"
CHONGQING = "chongqing"

PRESETS = {
    DEFAULT: {
        "name": "通用规则",
        "source": "人社厅发〔2021〕21号：一券一人，领取一次、使用一次",
        "attendance_threshold": 0.6,
        "exam_required": True,
    },
    WUXI: {
        "name": "无锡市规则",
        "source": "无锡市职业培训券推广使用实施方案（2021）",
        "uses_per_occupation_per_year": 1,  # 每人每年同一职业(工种)只能持券参加一次培训
        "auto_settle_directed_credential": True,  # 定向券+抵用券：培训完成后自动核销
        "attendance_threshold": 0.6,
        "exam_required": True,
    },
    SHAOXING: {
        "name": "绍兴市规则",
        "source": "绍市人社发〔2022〕11号",
        "activation_days": 90,  # 取得后3个月内完成激活(验券)
        "valid_days_after_activation": 180,  # 使用有效期6个月
        "uses_per_year": 1,  # 每人每年激活使用培训券暂定为1张
        "min_insurance_months_general": 36,  # 通用券：在当地累计缴纳失业保险满36个月
        "attendance_threshold": 0.6,  # 个人打卡率在60%以上并且通过考核
        "exam_required": True,
        "pays_worker_for_general_certificate": True,  # 三(五)：通用券证书类培训补贴个人
    },
    CHONGQING: {
        "name": "重庆市规则",
        "source": "渝人社职行办〔2021〕12号",
        "claims_per_type_per_year": 1,  # 同一类型职业培训券每人限领一次
        "uses_per_year": 3,  # 每人用券不超过3次
        "face_value_is_reference": True,  # 券面值仅作为参考，按区县审核金额补贴
        "attendance_threshold": 0.6,
        "exam_required": True,
    },
}


def ensure_policies(session) -> dict:
    """Create any preset policy row that does not exist yet; return them by code."""
    from .models import Policy

    rows = {p.code: p for p in session.query(Policy).filter(Policy.code.in_(PRESETS))}
    for code, values in PRESETS.items():
        if code not in rows:
            rows[code] = Policy(code=code, **values)
            session.add(rows[code])
    session.flush()
    return rows
