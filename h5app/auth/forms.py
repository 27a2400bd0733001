"""Sign-in forms; each validates its own fields with a message a person can act on."""
import secrets

from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

from ..forms import Form
from ..identity import (
    id_number_error, is_valid_phone, name_error, normalize_id_number, normalize_name, normalize_phone,
)
from ..ids import ascii_digits


class StaffLoginForm(Form):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=128)])
    submit = SubmitField("登录")


class PhoneForm(Form):
    phone = StringField("手机号", validators=[DataRequired("请输入手机号")],
                        render_kw={"inputmode": "tel", "autocomplete": "tel"})
    submit = SubmitField("获取验证码")

    def validate_phone(self, field):
        if not is_valid_phone(field.data):
            raise ValidationError("请输入11位手机号")
        field.data = normalize_phone(field.data)


class SmsCodeForm(Form):
    code = StringField("短信验证码", validators=[DataRequired("请输入验证码"), Length(min=6, max=6, message="验证码为6位数字")],
                       render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"})
    submit = SubmitField("登录")

    def validate_code(self, field):
        if not ascii_digits((field.data or "").strip()):
            raise ValidationError("验证码为6位数字")


class BindIdentityForm(Form):
    name = StringField("真实姓名", validators=[DataRequired("请输入姓名")])
    id_number = StringField("身份证号", validators=[DataRequired("请输入身份证号")])
    submit = SubmitField("确认绑定")

    def validate_name(self, field):
        problem = name_error(field.data)
        if problem:
            raise ValidationError(problem)
        field.data = normalize_name(field.data)

    def validate_id_number(self, field):
        problem = id_number_error(field.data)
        if problem:
            raise ValidationError(problem)
        # Stored in one form only (ASCII, no spaces, upper-case X): one person, one record.
        field.data = normalize_id_number(field.data)


def password_problem(password: str) -> str | None:
    """The one password rule for staff, used by this form and by `flask users create`."""
    if len(password or "") < 10:
        return "密码至少10位"
    if not (any(c.isascii() and c.isalpha() for c in password) and any(c.isascii() and c.isdigit() for c in password)):
        return "密码须同时包含字母和数字"
    return None


# Read aloud or copied off a screen: no 0/O, 1/l/I or other look-alikes, no case to get wrong.
HANDOVER_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def generate_password() -> str:
    """A first password to hand over: random (about 59 bits), in groups of four like
    "k7mq-4xrt-9hwe", and always within the rule above."""
    while True:
        password = "-".join("".join(secrets.choice(HANDOVER_ALPHABET) for _ in range(4)) for _ in range(3))
        if password_problem(password) is None:
            return password


class ChangePasswordForm(Form):
    current_password = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    new_password = PasswordField("新密码", validators=[DataRequired("请输入新密码"), Length(max=128)])
    confirm = PasswordField("再次输入新密码", validators=[DataRequired("请再次输入新密码")])
    submit = SubmitField("修改密码")

    def validate_new_password(self, field):
        problem = password_problem(field.data)
        if problem:
            raise ValidationError(problem)
        if field.data == self.current_password.data:
            raise ValidationError("新密码不能与当前密码相同")

    def validate_confirm(self, field):
        if field.data != self.new_password.data:
            raise ValidationError("两次输入的新密码不一致")
