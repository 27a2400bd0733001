"""Forms every area uses."""
import re
from decimal import Decimal

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import DecimalField, IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, StopValidation

from .codes import CODE_LENGTH
from .vouchers import reasons


# Messages WTForms added after its zh catalogue was last translated. The choice messages do not
# repeat what was sent: it may be anything (a script, a line of SQL) and it is not the user's own words.
MISSING_FROM_CATALOGUE = {
    "'%(value)s' is not a valid choice for this field.": "所选内容不是可选的值，请重新选择",
    "'%(value)s' are not valid choices for this field.": "所选内容不是可选的值，请重新选择",
    "Not a valid month value.": "不是有效的月份",
    "Not a valid week value.": "不是有效的星期",
}


class _Chinese:
    """WTForms' zh catalogue, and ours for what it lacks."""

    def __init__(self, catalogue):
        self.catalogue = catalogue

    def gettext(self, message):
        return MISSING_FROM_CATALOGUE.get(message) or self.catalogue.gettext(message)

    def ngettext(self, singular, plural, n):
        found = MISSING_FROM_CATALOGUE.get(singular if n == 1 else plural)
        return found or self.catalogue.ngettext(singular, plural, n)


class Form(FlaskForm):
    """Every form of the app: WTForms' own messages in Chinese (its bundled zh catalogue, completed
    by MISSING_FROM_CATALOGUE; the app sets WTF_I18N_ENABLED off, as Flask-WTF's translations need
    Flask-Babel)."""

    class Meta:
        locales = ("zh",)

        def get_translations(self, form):
            return _Chinese(super().get_translations(form))

    # Fields a page posts once per row, named `<name>-<row key>` (result-12, decision-7): see for_rows.
    ROW_FIELDS: dict = {}

    @classmethod
    def for_rows(cls, keys, **kwargs):
        """This form with ROW_FIELDS for each of `keys` (WTForms' way of adding fields at run time: a
        subclass with the fields set on it); read them back with row()."""
        fields = {f"{name}-{key}": field for key in keys for name, field in cls.ROW_FIELDS.items()}
        return type(cls.__name__, (cls,), fields)(**kwargs)

    def row(self, name: str, key):
        return self[f"{name}-{key}"]

    def error_text(self) -> str:
        """The form's messages in one line, each once: for a notice or a flash."""
        return "；".join(dict.fromkeys(message for messages in self.errors.values() for message in messages))


class _ReadOrSay:
    """A value that could not be read says so once: the range and required validators, which
    would each add a message of their own about the missing value (12.345 read as 金额应在0至…),
    are not run."""

    def pre_validate(self, form):
        typed = bool(self.raw_data and str(self.raw_data[0]).strip())  # nothing typed is Optional's to judge
        if self.process_errors and typed:
            raise StopValidation()


class WholeNumberField(_ReadOrSay, IntegerField):
    """An integer field that refuses a number too long to be meant, before any validator sees it:
    WTForms' NumberRange asks math.isnan of the value, which overflows for an integer past a
    float's range (found by tests/test_page_fuzz.py)."""

    def process_formdata(self, valuelist):
        if valuelist and len(str(valuelist[0]).strip().lstrip("+-")) > 12:
            self.data = None
            raise ValueError("数值过大，请填写合理的整数")
        super().process_formdata(valuelist)


class YuanField(_ReadOrSay, DecimalField):
    """An amount in yuan, to the fen: 1500, 1500.5 or 1500.50. A third decimal is refused, not
    dropped (12.345 would otherwise be saved as 12.34 without a word); `fen` is the amount in fen."""

    def __init__(self, label=None, validators=None, *, maximum: int = 100_000, **kwargs):
        super().__init__(label, validators=[*(validators or []),
                                            NumberRange(0, maximum, f"金额应在0至{maximum:,}元之间")], places=2,
                         **kwargs)

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("请填写金额（元），如 1500 或 1500.50") from None
        if self.data is not None and (not self.data.is_finite() or self.data != self.data.quantize(Decimal("0.01"))):
            self.data = None
            raise ValueError("金额最多到分（小数点后两位）")

    @property
    def fen(self) -> int | None:
        return int(self.data * 100) if self.data is not None else None


class CodesField(TextAreaField):
    """券码 pasted one a line or between commas (either width); `codes` lists them in order. A code
    may be written in groups, as the worker's page shows it ("X4S2 ED5H 5EJ7 YJSK"): a line whose
    characters make whole codes is read as those codes, whatever spaces it has."""

    @property
    def codes(self) -> list[str]:
        found = []
        for line in re.split(r"[\n,，;；、]+", self.data or ""):
            joined = re.sub(r"[\s-]+", "", line)
            if joined and len(joined) % CODE_LENGTH == 0:
                found += [joined[i:i + CODE_LENGTH] for i in range(0, len(joined), CODE_LENGTH)]
            else:
                found += line.split()
        return found


class ConfirmForm(Form):
    """A one-button action: still a POST with CSRF."""

    submit = SubmitField("确认")


def reason_field(label: str) -> TextAreaField:
    """A required reason, kept in the audit log and shown to those it concerns (the rule is
    vouchers.reasons', which the services apply again for the API)."""
    message = f"{label}请写清楚，{reasons.MIN_LENGTH}到{reasons.MAX_LENGTH}个字"
    return TextAreaField(label, validators=[
        DataRequired(f"请填写{label}"), Length(min=reasons.MIN_LENGTH, max=reasons.MAX_LENGTH, message=message),
    ], render_kw={"rows": 3})


def sheet_field(label: str, **kwargs) -> FileField:
    """A required upload of a table (CSV, or Excel .xlsx), as every import page takes it."""
    return FileField(label, validators=[FileRequired("请选择要上传的文件"),
                                        FileAllowed(["csv", "xlsx", "txt"], "只支持 CSV 或 Excel（.xlsx）文件")], **kwargs)


class CancelClassForm(Form):
    """取消班期 (institution and bureau)."""

    reason = reason_field("取消原因")
    submit = SubmitField("确认取消班期")


class WithdrawForm(Form):
    """退班 of one trainee."""

    reason = reason_field("退班原因")
    submit = SubmitField("确认退班")


class RuleCheckedForm(Form):
    """A form whose checks across fields are a service's own (its `…_problems(values)`, which the
    API applies too): they are shown on the fields together with the fields' own errors."""

    # A problem's field name → the form's, where they differ (face_value_fen → face_value).
    FORM_NAMES: dict = {}

    def problems(self) -> dict:
        """Field → message from the service's rules, for the values as typed."""
        raise NotImplementedError

    def show(self, problems: dict) -> None:
        """Put field → message problems (the service's, or ValidationFailed.details["fields"]) on
        the form, in the rule's own words where the clerk typed: sessions.2.ends_at goes to
        sessions, an unknown name to the first field. A field with its own error keeps just that."""
        first = next(f for f in self if f.name != "csrf_token")
        for name, message in problems.items():
            field = getattr(self, self.FORM_NAMES.get(name, name.split(".")[0]), None) or first
            if not field.errors:
                field.errors = [message]

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        problems = self.problems()
        self.show(problems)
        return valid and not problems


class PayeeAccountForm(RuleCheckedForm):
    """户名, 开户行, 账号 of a payee account, checked by the rule onboarding and the API use
    (vouchers.payees.clean_account); `BANK_CARD` for a worker's own card."""

    BANK_CARD = False

    account_name = StringField("户名", validators=[Length(max=100, message="户名不超过100字")],
                               render_kw={"autocomplete": "off"})
    bank_name = StringField("开户行", validators=[Length(max=100, message="开户行不超过100字")],
                            render_kw={"autocomplete": "off", "placeholder": "如 中国工商银行绍兴越城支行"})
    account_number = StringField("账号", validators=[Length(max=40, message="账号不超过40位")],
                                 render_kw={"inputmode": "numeric", "autocomplete": "off"})
    submit = SubmitField("保存收款账户")

    def values(self) -> dict:
        return {"account_name": self.account_name.data, "bank_name": self.bank_name.data,
                "account_number": self.account_number.data}

    def problems(self) -> dict:
        from .vouchers.errors import ValidationFailed
        from .vouchers.payees import clean_account

        try:
            clean_account(self.values(), bank_card=self.BANK_CARD)
        except ValidationFailed as refusal:
            return refusal.details["fields"]
        return {}
