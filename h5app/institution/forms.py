"""Institution forms."""
import re

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..identity import is_valid_phone, normalize_phone


class RosterForm(FlaskForm):
    file = FileField("花名册文件（CSV 或 Excel）", validators=[
        FileRequired("请选择要上传的文件"),
        FileAllowed(["csv", "xlsx", "txt"], "只支持 CSV 或 Excel（.xlsx）文件"),
    ])
    submit = SubmitField("上传并导入")


class VerifierForm(FlaskForm):
    name = StringField("姓名", validators=[DataRequired("请填写姓名"), Length(max=30)])
    username = StringField("登录用户名", validators=[DataRequired("请填写用户名"), Length(min=3, max=32)],
                           render_kw={"autocapitalize": "none", "autocomplete": "off"})
    phone = StringField("手机号（选填）", validators=[Optional()], render_kw={"inputmode": "tel"})
    submit = SubmitField("添加核券人员")

    def validate_username(self, field):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", field.data or ""):
            raise ValidationError("用户名只能用字母、数字和 _ . -")

    def validate_phone(self, field):
        if field.data and not is_valid_phone(field.data):
            raise ValidationError("请输入11位手机号")
        field.data = normalize_phone(field.data) if field.data else None
