"""Worker forms (one-button actions use h5app.forms.ConfirmForm)."""
from wtforms import DateField, FloatField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import HiddenInput

from ..codes import CODE_LENGTH
from ..forms import ConfirmForm, Form, PayeeAccountForm
from ..ids import ascii_digits


class SearchForm(Form):
    """A search by GET: a filter whose value does not validate is left out, its field saying so in
    IGNORED's words, while the valid ones still apply."""

    IGNORED: dict = {}  # field name → what the field says when its value was left out

    def valid_filters(self) -> dict:
        """The filters to apply, by field name: the valid ones that were given (text stripped)."""
        self.validate()
        filters = {}
        for name, field in self._fields.items():
            if field.errors:
                field.errors = [self.IGNORED.get(name, field.errors[0])]
            elif name in self.IGNORED:
                value = field.data.strip() if isinstance(field.data, str) else field.data
                if value not in (None, ""):
                    filters[name] = value
        return filters


QUERY_IGNORED = "关键词最多40个字，本次未按关键词搜索"


class ClassSearchForm(SearchForm):
    IGNORED = {
        "q": QUERY_IGNORED,
        "district": "所选地区不在列表中，本次未按地区筛选",
        "starts_after": "开班日期请按“年-月-日”填写（如2026-03-01），本次未按开班日期筛选",
        "min_rating": "评分请选“4星以上”或“3星以上”，本次未按评分筛选",
    }

    q = StringField("职业、课程或机构", validators=[Optional(), Length(max=40)],
                    render_kw={"placeholder": "例如：电工、育婴员", "enterkeyhint": "search"})
    district = SelectField("地区", validators=[Optional()])
    starts_after = DateField("开班不早于", validators=[Optional()])
    min_rating = SelectField("评分", choices=[SelectChoice("", "不限"), SelectChoice("4", "4星以上"),
                                           SelectChoice("3", "3星以上")], validators=[Optional()])
    submit = SubmitField("搜索")


class CheckInForm(Form):
    # Filled in by the page's geolocation script; missing or impossible values are refused.
    lat = FloatField(widget=HiddenInput(), validators=[InputRequired(), NumberRange(-90, 90)])
    lng = FloatField(widget=HiddenInput(), validators=[InputRequired(), NumberRange(-180, 180)])
    submit = SubmitField("定位签到")


class RatingForm(Form):
    stars = RadioField("评分", choices=[SelectChoice(str(n), f"{n}星") for n in range(5, 0, -1)],
                       validators=[InputRequired("请选择评分")], validate_choice=False)
    # A browser counts a line break as one character against maxlength, and sends it as two (CRLF):
    # counted as the worker's page counted it, 500 characters with line breaks are 500.
    comment = TextAreaField("说说您的感受（选填）", filters=[lambda text: text.replace("\r\n", "\n") if text else text],
                            validators=[Optional(), Length(max=500, message="请在500字以内")])
    submit = SubmitField("提交评价")

    def validate_stars(self, field):
        if field.data not in {"1", "2", "3", "4", "5"}:
            raise ValidationError("请选择1到5星")


class JobSearchForm(SearchForm):
    IGNORED = {"q": QUERY_IGNORED}

    q = StringField("岗位、职业或单位", validators=[Optional(), Length(max=40)], render_kw={"enterkeyhint": "search"})
    submit = SubmitField("搜索")


class PayeeForm(PayeeAccountForm):
    """我的 → 收款账户: the worker's own bank card; that the name is the worker's real name is
    checked by set_worker_account and shown with show()."""

    BANK_CARD = True

    account_name = StringField(
        "户名", validators=[InputRequired("请填写户名（本人真实姓名）"), Length(max=100, message="户名过长")],
        render_kw={"autocomplete": "off"})
    bank_name = StringField(
        "开户行", validators=[InputRequired("请填写开户行"), Length(max=100, message="开户行名称过长")],
        render_kw={"autocomplete": "off", "placeholder": "如 中国工商银行绍兴越城支行"})
    account_number = StringField(
        "银行卡号", validators=[InputRequired("请填写银行卡号"), Length(max=40, message="银行卡号应为16到19位数字")],
        render_kw={"inputmode": "numeric", "autocomplete": "off"})


class OnlineUseForm(Form):
    """线上培训: which voucher to use, and the identity confirmation (an SMS code to the bound phone,
    or a channel sign-in a few minutes old)."""

    voucher = RadioField("使用哪张培训券", validators=[InputRequired("请选择培训券")])
    code = StringField("短信验证码", validators=[Optional(), Length(max=6, message="验证码为6位数字")],
                       render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 6})
    send = SubmitField("获取验证码")
    confirm = SubmitField("验证并使用培训券")
    channel = SubmitField("确认使用（已通过渠道实名认证）")

    def validate_code(self, field):
        field.data = (field.data or "").strip()
        if field.data and not (ascii_digits(field.data) and len(field.data) == 6):
            raise ValidationError("验证码为6位数字")


class EnrolForm(ConfirmForm):
    """报名: the voucher chosen on the class page (its 唯一码), or none; whether it may be used for the
    class is the enrolment service's rule."""

    voucher = StringField(validators=[Optional(), Length(max=CODE_LENGTH, message="所选培训券不能用于该班期")])


class ConsentForm(ConfirmForm):
    """就业推荐授权: give (1) or withdraw (0); `back` is "jobs" when the button was on 就业岗位."""

    give = StringField(validators=[AnyOf(("0", "1"), message="授权选项有误，请重新选择")])
    back = StringField()
