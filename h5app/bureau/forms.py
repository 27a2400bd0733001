"""Bureau forms."""
import re

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DecimalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..models import PRIORITY_GROUPS
from ..models.vouchers import CREDENTIAL, DISTRIBUTION_MODES, FACE_VALUE, FUNCTION_MODES, PROJECT_TYPES


def _choices(mapping):
    return [SelectChoice(code, label) for code, label in mapping.items()]


class TemplateForm(FlaskForm):
    name = StringField("券名称", validators=[DataRequired("请填写券名称"), Length(max=120)])
    voucher_type = StringField("券类型", validators=[DataRequired("请填写券类型"), Length(max=64)],
                               description="同一类型每人每年限领次数按地区政策计算，例如“就业技能培训券”")
    region_code = SelectField("使用地区")
    policy_id = SelectField("地区政策", coerce=int)
    function_mode = SelectField("功能模式", choices=_choices(FUNCTION_MODES))
    distribution_mode = SelectField("发放模式", choices=_choices(DISTRIBUTION_MODES))
    audience = SelectField("领取范围", choices=[SelectChoice("open", "符合条件者均可领取，领完为止"),
                                            SelectChoice("targeted", "仅限发券时选定的人群")])
    face_value = DecimalField("面值（元）", places=2, validators=[Optional(), NumberRange(0, 100000)])
    standard = DecimalField("补贴标准（元，选填）", places=2, validators=[Optional(), NumberRange(0, 100000)])
    eligible_groups = SelectMultipleField("面向群体（不选则不限）", choices=_choices(PRIORITY_GROUPS),
                                          widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    min_insurance_months = IntegerField("失业保险缴费月数不少于（选填）", validators=[Optional(), NumberRange(0, 600)])
    occupation = StringField("限定职业（选填）", validators=[Optional(), Length(max=64)])
    level = StringField("限定等级（选填）", validators=[Optional(), Length(max=16)])
    project_types = SelectMultipleField("适用培训项目（不选则不限）", choices=_choices(PROJECT_TYPES),
                                        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    claim_starts_on = DateField("领取开始", validators=[InputRequired("请选择领取开始日期")])
    claim_ends_on = DateField("领取截止", validators=[InputRequired("请选择领取截止日期")])
    valid_until = DateField("使用截止日期（选填）", validators=[Optional()])
    valid_days = IntegerField("领取后N天内使用（选填）", validators=[Optional(), NumberRange(1, 3650)])
    stock = IntegerField("发放数量（选填，不填不限）", validators=[Optional(), NumberRange(1, 10_000_000)])
    description = TextAreaField("说明（选填）", validators=[Optional(), Length(max=2000)])
    submit = SubmitField("保存")

    def validate(self, extra_validators=None) -> bool:
        # Checks across fields that may be left empty (Optional() ends a field's own validators).
        valid = super().validate(extra_validators)
        if self.function_mode.data == FACE_VALUE and not self.face_value.data:
            self.face_value.errors = [*self.face_value.errors, "面值券须填写面值"]
            valid = False
        if self.function_mode.data == CREDENTIAL and self.standard.data is None:
            self.standard.errors = [*self.standard.errors, "抵用券须填写补贴标准（结算时按此金额补贴）"]
            valid = False
        if self.valid_days.data is None and self.valid_until.data is None:
            self.valid_days.errors = [*self.valid_days.errors, "请设置使用期限：截止日期或领取后天数（至少一项）"]
            valid = False
        return valid

    def validate_claim_ends_on(self, field):
        if self.claim_starts_on.data and field.data and field.data < self.claim_starts_on.data:
            raise ValidationError("领取截止不能早于领取开始")

    def validate_valid_until(self, field):
        if field.data and self.claim_starts_on.data and field.data < self.claim_starts_on.data:
            raise ValidationError("使用截止日期不能早于领取开始")


class ClerkForm(FlaskForm):
    name = StringField("姓名", validators=[DataRequired("请填写姓名"), Length(max=30)])
    username = StringField("登录用户名", validators=[DataRequired("请填写用户名"), Length(min=3, max=32)],
                           render_kw={"autocapitalize": "none", "autocomplete": "off"})
    region_code = SelectField("负责地区")
    submit = SubmitField("添加经办人员")

    def validate_username(self, field):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", field.data or ""):
            raise ValidationError("用户名只能用字母、数字和 _ . -")
