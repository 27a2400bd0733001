"""Region policies as data. These presets are what the seed notices say; `flask demo` and the
bureau console store them as rows of the `policies` table, where a bureau can adjust them."""

DEFAULT = "default"
WUXI = "wuxi"
SHAOXING = "shaoxing"
CHONGQING = "chongqing"
SHANDONG = "shandong"

# Who is "in" a general template's region (eligibility_region_fields): any one of these fields of
# the person's record (h5app/people/records.py). Where a policy names none, any region of the record.
HUKOU_RESIDENCE_EMPLOYMENT = ["hukou_region_code", "residence_region_code", "employment_region_code"]
ANY_RECORD_REGION = [*HUKOU_RESIDENCE_EMPLOYMENT, "insurance_region_code", "unemployment_registered_region_code"]

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
        # 二(一)：企业职工、农村转移就业劳动者、高校毕业生、失业人员 — who live, work or are registered here
        "eligibility_region_fields": HUKOU_RESIDENCE_EMPLOYMENT,
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
        # 二(一)：通用券 — 在当地（区、县（市））依法缴纳失业保险: the insurance region, with its months
        "eligibility_region_fields": ["insurance_region_code"],
        "attendance_threshold": 0.6,  # 个人打卡率在60%以上并且通过考核
        "exam_required": True,
        "pays_worker_for_general_certificate": True,  # 三(五)：通用券证书类培训补贴个人
        # 三(六)：个人打卡率（定位签到和扫码验券课时/总课时）: the hours attended count, so a lesson
        # counts the time between 签到 and 签退, not the check-in alone.
        "attendance_by_time_present": True,
    },
    CHONGQING: {
        "name": "重庆市规则",
        "source": "渝人社职行办〔2021〕12号",
        "claims_per_type_per_year": 1,  # 同一类型职业培训券每人限领一次
        "uses_per_year": 3,  # 每人用券不超过3次
        "face_value_is_reference": True,  # 券面值仅作为参考，按区县审核金额补贴
        # 二(二)：持有我市电子社保卡的企业职工、高校毕业生、农村转移就业劳动者、下岗失业人员…
        "eligibility_region_fields": HUKOU_RESIDENCE_EMPLOYMENT,
        "attendance_threshold": 0.6,
        "exam_required": True,
        "class_review_required": True,  # 三(二)：新提交开班申请的培训班次
        "training_by_valid_until": True,  # 二(四)：有效期内未按规定完成补贴性培训的，职业培训券失效
    },
    SHANDONG: {
        "name": "山东省规则",
        "source": "鲁人社函〔2021〕57号",
        "class_review_required": True,  # 三(三)：在符合发券要求的职业技能培训班期开班审核后……制券并下发
        # 二(二)：签订劳动合同并缴纳企业养老保险的企业职工 — where employed and insured
        "eligibility_region_fields": ["employment_region_code", "insurance_region_code"],
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
