"""Scan station forms: register a scan gun, switch what it is scanning for."""
from wtforms import SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from ..forms import Form
from ..ids import database_id
from .devices import LESSON_MODES, MODE_VERIFY, MODES


def _optional_int(value):
    return database_id(value)


class DeviceSettingsForm(Form):
    """Mode and target. Choices are the institution's own classes and sessions, set by the view."""

    mode = SelectField("扫码用途", choices=[SelectChoice(value, label) for value, label in MODES.items()], default=MODE_VERIFY)
    class_id = SelectField("验券班期", coerce=_optional_int, validate_choice=True)
    session_id = SelectField("签到/签退课次", coerce=_optional_int, validate_choice=True)
    submit = SubmitField("保存设置")

    def set_choices(self, classes, sessions, session_label):
        self.class_id.choices = [SelectChoice(None, "请选择班期")] + [
            SelectChoice(c.id, f"{c.course_name}（{c.starts_on:%Y年%m月%d日}开班）") for c in classes]
        self.session_id.choices = [SelectChoice(None, "请选择课次")] + [
            SelectChoice(s.id, session_label(s)) for s in sessions]

    def validate_class_id(self, field):
        if self.mode.data == MODE_VERIFY and field.data is None:
            raise ValidationError("验券模式请选择班期")

    def validate_session_id(self, field):
        if self.mode.data in LESSON_MODES and field.data is None:
            raise ValidationError(f"{MODES[self.mode.data]}请选择课次")


class DeviceForm(DeviceSettingsForm):
    name = StringField("扫码枪名称", validators=[DataRequired("请填写名称，如“前台1号”"), Length(max=30)])
    submit = SubmitField("登记扫码枪")

    # A new gun may be registered before the class it will serve exists: it refuses scans until set.
    def validate_class_id(self, field):
        pass

    def validate_session_id(self, field):
        pass
