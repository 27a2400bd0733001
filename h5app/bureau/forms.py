"""Bureau forms."""
import re
from datetime import date
from decimal import Decimal

from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from ..forms import CodesField, ConfirmForm, Form, RuleCheckedForm, WholeNumberField, YuanField, sheet_field
from ..identity import id_number_error
from ..ids import ascii_digits, database_id
from ..models import PRIORITY_GROUPS
from ..models.people import RECORD_REGION_FIELDS
from ..models.vouchers import DISTRIBUTION_MODES, FUNCTION_MODES, PROJECT_TYPES
from ..vouchers.population import EMPLOYMENT_STATUSES, Filters
from ..vouchers import policy_admin
from ..vouchers.templates import template_problems


def _choices(mapping):
    return [SelectChoice(code, label) for code, label in mapping.items()]


class TemplateForm(RuleCheckedForm):
    name = StringField("券名称", validators=[DataRequired("请填写券名称"), Length(max=120)])
    voucher_type = StringField("券类型", validators=[DataRequired("请填写券类型"), Length(max=64)],
                               description="同一类型每人每年限领次数按地区政策计算，例如“就业技能培训券”")
    region_code = SelectField("使用地区")
    policy_id = SelectField("地区政策", coerce=int)
    function_mode = SelectField("功能模式", choices=_choices(FUNCTION_MODES))
    distribution_mode = SelectField("发放模式", choices=_choices(DISTRIBUTION_MODES))
    audience = SelectField("领取范围", choices=[SelectChoice("open", "符合条件者均可领取，领完为止"),
                                            SelectChoice("targeted", "仅限发券时选定的人群")])
    face_value = YuanField("面值（元）", validators=[Optional()])
    standard = YuanField("补贴标准（元，选填）", validators=[Optional()])
    eligible_groups = SelectMultipleField("面向群体（不选则不限）", choices=_choices(PRIORITY_GROUPS),
                                          widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    min_insurance_months = WholeNumberField("失业保险缴费月数不少于（选填）", validators=[Optional(), NumberRange(0, 600)])
    occupation = StringField("限定职业（选填）", validators=[Optional(), Length(max=64)])
    level = StringField("限定等级（选填）", validators=[Optional(), Length(max=16)])
    project_types = SelectMultipleField("适用培训项目（不选则不限）", choices=_choices(PROJECT_TYPES),
                                        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    claim_starts_on = DateField("领取开始", validators=[InputRequired("请选择领取开始日期")])
    claim_ends_on = DateField("领取截止", validators=[InputRequired("请选择领取截止日期")])
    valid_until = DateField("使用截止日期（选填）", validators=[Optional()])
    valid_days = WholeNumberField("领取后N天内使用（选填）", validators=[Optional(), NumberRange(1, 3650)])
    stock = WholeNumberField("发放数量（选填，不填不限）", validators=[Optional(), NumberRange(1, 10_000_000)])
    description = TextAreaField("说明（选填）", validators=[Optional(), Length(max=2000)])
    submit = SubmitField("保存")

    FORM_NAMES = {"face_value_fen": "face_value", "standard_fen": "standard"}

    def values(self) -> dict:
        """The template's column values as typed (what vouchers/templates.py takes)."""
        values = {name: getattr(self, name).data for name in (
            "name", "voucher_type", "region_code", "policy_id", "function_mode", "distribution_mode", "audience",
            "min_insurance_months", "claim_starts_on", "claim_ends_on", "valid_until", "valid_days", "stock")}
        values.update(
            eligible_groups=list(self.eligible_groups.data or []), project_types=list(self.project_types.data or []),
            occupation=self.occupation.data or None, level=self.level.data or None,
            description=self.description.data or None,
            face_value_fen=self.face_value.fen, standard_fen=self.standard.fen)
        return values

    def problems(self) -> dict:
        return template_problems(self.values())


class CertificateImportForm(Form):
    file = sheet_field("证书文件（CSV 或 Excel）", render_kw={"accept": ".csv,.xlsx"})
    submit = SubmitField("上传并导入")


class PeopleImportForm(Form):
    """人员信息导入: a file of people records from the social-insurance or employment system."""
    file = sheet_field("人员信息文件（CSV 或 Excel）", render_kw={"accept": ".csv,.xlsx"})
    submit = SubmitField("上传并导入")


class PayeeDecisionForm(Form):
    """确认 or 不予确认 an institution's pending payee account change. The account's id is posted so
    that a change submitted after the page was opened is never confirmed unseen. The reason is
    required to decline: the service's rule (payees.decide_institution_account), not the form's."""

    account_id = HiddenField(validators=[DataRequired("请刷新页面后重试")])
    reason = StringField("不予确认的原因", validators=[Optional(), Length(max=200, message="原因不超过200字")])
    confirm = SubmitField("确认变更")
    decline = SubmitField("不予确认")


class ClerkForm(Form):
    name = StringField("姓名", validators=[DataRequired("请填写姓名"), Length(max=30)])
    username = StringField("登录用户名", validators=[DataRequired("请填写用户名"), Length(min=3, max=32)],
                           render_kw={"autocapitalize": "none", "autocomplete": "off"})
    region_code = SelectField("负责地区")
    submit = SubmitField("添加经办人员")

    def validate_username(self, field):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", field.data or ""):
            raise ValidationError("用户名只能用字母、数字和 _ . -")


class PaymentForm(Form):
    """拨付 one batch: the bank's reference and the date it paid. Lines the bank returned are
    posted beside it (failed-<line id>, failure-<line id>), one per approved line (for_rows)."""

    ROW_FIELDS = {"failed": BooleanField(), "failure": StringField(default="")}

    # As printed on the slip, often in groups ("HX 2026 1208 005"): kept without the spaces, so one
    # reference reads the same on every page and in every search.
    reference = StringField("银行回单号（流水号）", filters=[lambda value: re.sub(r"\s+", "", value or "")], validators=[
        DataRequired("请填写银行回单号（流水号）"), Length(max=64, message="回单号不超过64个字符"),
        Regexp(r"^[0-9A-Za-z\-_/]*$", message="回单号只能包含字母、数字和 - _ /，请按银行回单填写")])
    paid_on = StringField("拨付日期", validators=[DataRequired("请填写拨付日期")],
                          render_kw={"type": "date"})
    # The payment batches the page was drawn after: a batch recorded meanwhile (another tab, another
    # clerk: a line the bank returned) must be seen before paying again.
    batches_seen = HiddenField()
    submit = SubmitField("确认拨付")

    def validate_paid_on(self, field):
        try:
            field.parsed = date.fromisoformat((field.data or "").strip())
        except ValueError:
            raise ValidationError("拨付日期格式应为 2026-12-07") from None


class _PopulationFields(Form):
    """通用券 to a population: the template and the filters. The choices of template and region are
    the view's; what a filter means for the template is the service's rule (population.filter_problems)."""

    template_id = SelectField("通用券模板", validate_choice=False)
    groups = SelectMultipleField("重点群体（可多选，不选则按券模板条件）", choices=_choices(PRIORITY_GROUPS),
                                 widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    region_code = SelectField("地区（人员信息中的地区在此范围内）", default="", validate_choice=False)
    min_insurance_months = WholeNumberField("失业保险缴费月数不少于（选填）",
                                            validators=[Optional(),
                                                        NumberRange(0, 600, "缴费月数应为0至600之间的整数")])
    employment = SelectField("就业状态", default="", validate_choice=False,
                             choices=[SelectChoice("", "不限"), *_choices(EMPLOYMENT_STATUSES)])
    submit = SubmitField("预览")

    def validate_template_id(self, field):
        if database_id(field.data) is None:
            raise ValidationError("请选择通用券模板")

    def filters(self) -> Filters:
        return Filters(groups=tuple(dict.fromkeys(self.groups.data or ())), region_code=self.region_code.data or None,
                       min_insurance_months=self.min_insurance_months.data or None,
                       employment=self.employment.data or None)


class PopulationFilterForm(_PopulationFields):
    """The filters read from the query string: 预览 is a GET, it changes nothing."""

    class Meta:
        csrf = False


class PopulationConfirmForm(_PopulationFields):
    """确认发放: the filters previewed, posted back with the count the bureau saw (a POST with CSRF)."""

    expected = HiddenField(validators=[DataRequired("请先预览再确认发放")])
    submit = SubmitField("确认发放")

    def validate_expected(self, field):
        if not ascii_digits(field.data or "") or len(field.data) > 9:
            raise ValidationError("请先预览再确认发放")


class AuditFilterForm(Form):
    """审计日志's filters, posted so that the full ID number typed in never reaches a URL; the page
    then shows them by GET (oversight._by_id_number). Each is optional; what each means is
    oversight._audit_query's."""

    code = StringField("券码", validators=[Length(max=40)])
    id_number = StringField("身份证号（输入完整号码）", validators=[Length(max=40)])
    institution = StringField("机构编码", validators=[Length(max=40)])
    actor = StringField("操作人", validators=[Length(max=80)])
    date_from = StringField("起始日期", name="from", validators=[Length(max=20)])
    date_to = StringField("截止日期", name="to", validators=[Length(max=20)])
    person = StringField(validators=[Length(max=20)])

    def filters(self) -> dict:
        """The query-string names (from, to …) → what was posted."""
        return {field.name: field.data or "" for field in self if field.name != "csrf_token"}


class PersonSearchForm(Form):
    """人员信息: look a person up by the full ID number (a POST, so the number stays out of URLs
    and access logs)."""

    id_number = StringField("身份证号码", validators=[DataRequired("请填写身份证号码"), Length(max=40)],
                            render_kw={"autocomplete": "off", "inputmode": "text", "autocapitalize": "characters",
                                       "placeholder": "18位身份证号码"})
    submit = SubmitField("查询")

    def validate_id_number(self, field):
        problem = id_number_error(field.data)
        if problem:
            raise ValidationError(problem)


class ClassReturnForm(Form):
    """开班审核: return a class to its institution, saying what to mend (issue 19)."""

    reason = TextAreaField("退回原因", validators=[
        DataRequired("请填写退回原因，培训机构将按此修改"), Length(max=500, message="退回原因请在500字以内")],
        render_kw={"rows": 3, "placeholder": "例如：授课教师证书编号与证书查询结果不符，请核对后重新提交"})
    submit = SubmitField("退回修改")


class DirectedIssueForm(Form):
    """The confirmation of a 定向发券 preview: the template, the class and the digest of the list of
    people shown, so what is issued is what was seen (vouchers/directed.py)."""

    template_id = HiddenField(validators=[DataRequired()])
    class_id = HiddenField(validators=[DataRequired()])
    plan = HiddenField(validators=[DataRequired(), Length(max=64)])
    submit = SubmitField("确认发放")


class CorrectionReviewForm(Form):
    """补签审核: approve, or refuse with a reason the institution will read."""

    reason = TextAreaField("审核意见", validators=[Optional(), Length(max=500, message="审核意见请在500字以内")],
                           render_kw={"rows": 2, "placeholder": "不予通过时必填，培训机构将看到"})
    approve = SubmitField("通过，计入打卡率")
    refuse = SubmitField("不予通过")


class SettlementReviewForm(ConfirmForm):
    """审核意见 per line (for_rows with the settlement's line ids): decision-<id> approve or reject, or
    nothing for a line not decided now; amount-<id> the sum approved, where the face value is only a
    reference; reason-<id> why it is rejected. What may be decided is settlement.review's rule."""

    ROW_FIELDS = {
        "decision": StringField(validators=[Optional(), AnyOf(("approve", "reject"), message="审核意见有误，请重新选择")]),
        "amount": StringField(default=""),
        "reason": StringField(default=""),
    }


class RevokeForm(ConfirmForm):
    """批量作废: the codes and the reason (required, and the cap on codes, by the view and lifecycle.revoke)."""

    codes = CodesField("券码")
    reason = StringField("作废原因")


class IssueForm(ConfirmForm):
    """发券 as the page once posted it: a 定向券 template and a class, sent on to the preview."""

    kind = StringField()
    template_id = StringField()
    class_id = StringField()


class TargetsImportForm(ConfirmForm):
    """年度目标: the year and the table (what the table must hold is statistics.targets' rule)."""

    year = WholeNumberField("目标年度")
    file = FileField("目标表", validators=[FileRequired("请选择要导入的目标表（CSV 或 Excel）")])

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.year.errors or self.year.data is None or not 2000 <= self.year.data <= 2100:
            # one message for a year that is missing, not a number or out of range
            self.year.errors = ["请填写正确的年度"]
            return False
        return valid


class InstitutionForm(ConfirmForm):
    """添加培训机构: one by the fields, or many by the 机构信息采集表 file; every rule on the values is
    onboarding's, which names each bad row (the field names are the table's columns, COLUMNS)."""

    name = StringField("机构名称")
    region_code = StringField("行政区划编码")
    address = StringField("机构地址")
    phone = StringField("机构电话")
    code = StringField("机构编码")
    type = StringField("机构类型")
    officer_name = StringField("机构专员姓名")
    officer_id_number = StringField("机构专员身份证号码")
    sites = StringField("培训机构经纬度")
    account_name = StringField("户名")
    bank_name = StringField("开户行")
    account_number = StringField("账号")
    file = FileField("机构信息采集表")


class SupervisionForm(ConfirmForm):
    """记录问题 (action strike, with its kind) or 恢复验券资格 (reinstate); the reason is required by
    vouchers.supervision, which names what is missing."""

    action = StringField()
    kind = StringField()
    reason = StringField()


class PolicyForm(RuleCheckedForm):
    """地区政策 (vouchers/policy_admin.py): empty means no such rule."""

    uses_per_occupation_per_year = WholeNumberField(policy_admin.LABELS["uses_per_occupation_per_year"],
                                                    validators=[Optional()])
    uses_per_year = WholeNumberField(policy_admin.LABELS["uses_per_year"], validators=[Optional()])
    claims_per_type_per_year = WholeNumberField(policy_admin.LABELS["claims_per_type_per_year"],
                                                validators=[Optional()])
    activation_days = WholeNumberField(policy_admin.LABELS["activation_days"], validators=[Optional()])
    valid_days_after_activation = WholeNumberField(policy_admin.LABELS["valid_days_after_activation"],
                                                   validators=[Optional()])
    apply_within_days = WholeNumberField(policy_admin.LABELS["apply_within_days"], validators=[Optional()])
    review_within_days = WholeNumberField(policy_admin.LABELS["review_within_days"], validators=[Optional()])
    min_insurance_months_general = WholeNumberField(policy_admin.LABELS["min_insurance_months_general"],
                                                    validators=[Optional()])
    attendance_percent = DecimalField(policy_admin.LABELS["attendance_threshold"], places=1,
                                      validators=[InputRequired("请填写补贴所需打卡率"), NumberRange(0, 100, "打卡率应在0%%至100%%之间")])
    exam_required = BooleanField(policy_admin.LABELS["exam_required"])
    class_review_required = BooleanField(policy_admin.LABELS["class_review_required"])
    attendance_by_time_present = BooleanField(policy_admin.LABELS["attendance_by_time_present"])
    training_by_valid_until = BooleanField(policy_admin.LABELS["training_by_valid_until"])
    face_value_is_reference = BooleanField(policy_admin.LABELS["face_value_is_reference"])
    pays_worker_for_general_certificate = BooleanField(policy_admin.LABELS["pays_worker_for_general_certificate"])
    auto_settle_directed_credential = BooleanField(policy_admin.LABELS["auto_settle_directed_credential"])
    eligibility_region_fields = SelectMultipleField(
        policy_admin.LABELS["eligibility_region_fields"], choices=_choices(RECORD_REGION_FIELDS),
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    submit = SubmitField("保存政策")

    FORM_NAMES = {"attendance_threshold": "attendance_percent"}

    def fill(self, policy) -> None:
        """The policy's settings, as the page shows them."""
        for name in policy_admin.EDITABLE:
            if name == "attendance_threshold":
                self.attendance_percent.data = (Decimal(policy.attendance_threshold) * 100).quantize(Decimal("0.1"))
            elif name == "eligibility_region_fields":
                self.eligibility_region_fields.data = policy.eligibility_region_fields or []
            else:
                getattr(self, name).data = getattr(policy, name)

    def values(self) -> dict:
        values = {name: getattr(self, name).data for name in policy_admin.EDITABLE
                  if name not in ("attendance_threshold", "eligibility_region_fields")}
        values["attendance_threshold"] = (self.attendance_percent.data / 100
                                          if self.attendance_percent.data is not None else None)
        values["eligibility_region_fields"] = [
            f for f in RECORD_REGION_FIELDS if f in (self.eligibility_region_fields.data or [])]
        return values

    def problems(self) -> dict:
        return policy_admin.problems(self.values())
