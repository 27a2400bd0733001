"""Institution forms."""
import re

from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    DecimalField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..forms import (
    CodesField, ConfirmForm, Form, PayeeAccountForm, RuleCheckedForm, WholeNumberField, YuanField, sheet_field,
)
from ..identity import is_valid_phone, normalize_phone
from ..ids import MAX_ID
from ..models.classes import CLASS_CLOSED, CLASS_OPEN, DELIVERY_OFFLINE, DELIVERY_ONLINE
from ..timeutil import local_at
from ..vouchers.class_review import submission_problems
from ..vouchers.classes import MAX_LESSONS, class_problems, hours_text, overlap_words, overlapping


class RosterForm(Form):
    file = sheet_field("花名册文件（CSV 或 Excel）")
    submit = SubmitField("上传并导入")


class VerifierForm(Form):
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


SESSION_LINE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})\s+(\d{1,2}:\d{2})\s*[-–~至]\s*(\d{1,2}:\d{2})(?:\s+(\d+(?:\.\d)?))?$")


def parse_sessions(text: str) -> tuple[list[tuple], list[str]]:
    """One lesson per line: "2026-12-01 09:00-12:00 3" (hours optional: the clock time, in tenths
    of an hour rounded down). A lesson counts no more hours than it lasts, and lessons do not
    overlap. Returns ([(date, start, end, hours)], [errors with their line numbers])."""
    from datetime import date as date_type
    from datetime import datetime as dt

    sessions, errors, lines = [], [], []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = SESSION_LINE.match(line)
        if not match:
            errors.append(f"第{number}行格式应为“2026-12-01 09:00-12:00 3”")
            continue
        try:
            day = date_type.fromisoformat("-".join(f"{int(p):02d}" for p in match.group(1).split("-")))
            start = dt.strptime(match.group(2), "%H:%M").time()
            end = dt.strptime(match.group(3), "%H:%M").time()
        except ValueError:
            errors.append(f"第{number}行的日期或时间不存在")
            continue
        if end <= start:
            errors.append(f"第{number}行的结束时间应晚于开始时间")
            continue
        length = (dt.combine(day, end) - dt.combine(day, start)).seconds
        hours = float(match.group(4)) if match.group(4) else length // 360 / 10  # never above the clock time
        if not 0 < hours <= 12:
            errors.append(f"第{number}行的课时应在0到12之间")
            continue
        if hours > length / 3600:
            errors.append(f"第{number}行的课时{hours_text(hours)}小时超过上课时长{hours_text(length / 3600)}小时")
            continue
        sessions.append((day, start, end, hours))
        lines.append(number)
    return sessions, errors + _lesson_set_errors(sessions, lines)


def _lesson_set_errors(sessions: list[tuple], lines: list[int]) -> list[str]:
    """The lessons taken together (the rules of vouchers/classes.py, by line): not more than
    MAX_LESSONS, none overlapping another."""
    from datetime import datetime as dt

    if len(sessions) > MAX_LESSONS:
        return [f"一个班期最多{MAX_LESSONS}次课，现填写了{len(sessions)}次"]
    spans = [(dt.combine(day, start), dt.combine(day, end)) for day, start, end, _hours in sessions]
    return [f"第{lines[n]}行与第{lines[other]}行{overlap_words(spans, n, other)}"
            for n, other in sorted(overlapping(spans).items())]


def parse_teachers(text: str | None) -> tuple[list[dict], list[str]]:
    """One teacher a line: name, then certificate number (a space, a comma or a tab between).
    Returns ([{name, certificate_number}], [errors with their line numbers])."""
    teachers, errors = [], []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = [p for p in re.split(r"[\s,，、;；]+", line) if p]
        if len(parts) != 2:
            errors.append(f"第{number}行应为“姓名 证书编号”，例如“张明 3306002019000123”")
            continue
        teachers.append({"name": parts[0], "certificate_number": parts[1]})
    return teachers, errors


class ClassForm(RuleCheckedForm):
    FORM_NAMES = {"hours": "sessions", "site_id": "sites", "price_fen": "price"}

    course_name = StringField("课程名称", validators=[DataRequired("请填写课程名称"), Length(max=120)])
    occupation = StringField("职业（工种）", validators=[DataRequired("请填写职业"), Length(max=64)])
    level = StringField("等级（选填）", validators=[Optional(), Length(max=16)])
    project_type = SelectField("培训项目", validate_choice=True)
    price = YuanField("培训费（元）", validators=[InputRequired("请填写培训费")])
    capacity = WholeNumberField("名额（选填）", validators=[Optional(), NumberRange(1, 10000)])
    starts_on = DateField("开班日期", validators=[InputRequired("请选择开班日期")])
    ends_on = DateField("结业日期", validators=[InputRequired("请选择结业日期")])
    # 线上培训 (issue 19): no site, no geofence; the platform reports study time.
    delivery = RadioField("培训方式", choices=[SelectChoice(DELIVERY_OFFLINE, "线下培训（学员到培训地点上课、签到）"),
                                           SelectChoice(DELIVERY_ONLINE, "线上培训（在线学习，无培训地点，学习时长由平台报送）")],
                          default=DELIVERY_OFFLINE)  # not posted (an older page): offline, as before
    sites = SelectMultipleField("培训地点", coerce=int, widget=ListWidget(prefix_label=False),
                                option_widget=CheckboxInput())
    sessions = TextAreaField("课次（每行一次课）", validators=[DataRequired("请至少填写一次课")],
                             render_kw={"rows": 5, "placeholder": "2026-12-01 09:00-12:00 3"})
    description = TextAreaField("课程介绍（选填）", validators=[Optional(), Length(max=2000)])
    # 开班申请 (issue 19): what the bureau reviews where its policy requires 开班审核; `review_required`
    # is set by the view from the district's policy.
    teaching_plan = TextAreaField("教学计划（选填）", validators=[Optional(), Length(max=5000)],
                                  render_kw={"rows": 5})
    teachers = TextAreaField("授课教师（选填，每行一位：姓名 证书编号）", validators=[Optional(), Length(max=3000)],
                             render_kw={"rows": 3, "placeholder": "张明 3306002019000123"})
    submit = SubmitField("保存")
    review_required = False

    def require_review(self) -> None:
        """The district's policy requires 开班审核: the plan and the teachers must be given."""
        self.review_required = True
        self.teaching_plan.label.text = "教学计划"
        self.teachers.label.text = "授课教师（每行一位：姓名 证书编号）"

    def validate_teachers(self, field):
        self.parsed_teachers, errors = parse_teachers(field.data)
        if errors:
            raise ValidationError("；".join(errors))

    def teacher_rows(self) -> list[dict]:
        return getattr(self, "parsed_teachers", None) or parse_teachers(self.teachers.data)[0]

    def validate_sites(self, field):
        if not field.data and self.delivery.data != DELIVERY_ONLINE:
            raise ValidationError("请至少选择一个培训地点（用于定位签到）")

    def validate_sessions(self, field):
        parsed, errors = parse_sessions(field.data)
        if errors:
            raise ValidationError("；".join(errors))
        if not parsed:
            raise ValidationError("请至少填写一次课")
        self.parsed_sessions = parsed

    def values(self) -> dict:
        """The class's column values as typed (what vouchers/classes.py takes)."""
        return {"course_name": self.course_name.data, "occupation": self.occupation.data,
                "level": self.level.data or None, "project_type": self.project_type.data,
                "price_fen": self.price.fen,
                "capacity": self.capacity.data, "starts_on": self.starts_on.data, "ends_on": self.ends_on.data,
                "description": self.description.data or None, "teaching_plan": self.teaching_plan.data or None,
                "delivery": self.delivery.data or DELIVERY_OFFLINE}

    def session_times(self) -> list[tuple]:
        """(starts_at, ends_at, hours) in naive UTC, from the local times typed."""
        return [(local_at(day, start), local_at(day, end), hours)
                for day, start, end, hours in getattr(self, "parsed_sessions", [])]

    def problems(self) -> dict:
        problems = class_problems(self.values(), self.session_times())
        if not getattr(self, "parsed_sessions", None):
            problems.pop("hours", None)  # the sessions field has said what is wrong with them
        if not self.teachers.errors:
            problems.update(submission_problems(self.values(), self.teacher_rows(), self.review_required))
        return problems


class ContactForm(Form):
    address = StringField("机构地址", validators=[DataRequired("请填写地址"), Length(max=200)])
    phone = StringField("联系电话", validators=[DataRequired("请填写联系电话"), Length(max=20)])
    submit = SubmitField("保存联系方式")

    def validate_phone(self, field):
        if not re.fullmatch(r"[0-9\-+ ]{7,20}", field.data or ""):
            raise ValidationError("请填写手机或座机号码")


class PayeeForm(PayeeAccountForm):
    """收款账户 change asked by the officer: it waits for the bureau's confirmation."""

    submit = SubmitField("提交变更")


class SiteForm(Form):
    name = StringField("地点名称", validators=[DataRequired("请填写地点名称"), Length(max=120)])
    address = StringField("详细地址（选填）", validators=[Optional(), Length(max=200)])
    lat = DecimalField("纬度", places=6, validators=[InputRequired("请填写纬度"), NumberRange(-90, 90, "纬度应在-90到90之间")])
    lng = DecimalField("经度", places=6, validators=[InputRequired("请填写经度"), NumberRange(-180, 180, "经度应在-180到180之间")])
    radius_m = WholeNumberField("签到半径（米）", default=300,
                            validators=[InputRequired("请填写签到半径"), NumberRange(50, 2000, "签到半径应在50到2000米之间")])
    submit = SubmitField("添加培训地点")


class CorrectionForm(Form):
    """补签申请: who, why, and the photo of the paper sign-in sheet (its content is checked by
    h5app/evidence.py, not its name)."""

    trainee = SelectField("漏签的学员", validators=[InputRequired("请选择学员")])
    reason = TextAreaField("漏签原因", validators=[DataRequired("请填写漏签原因"),
                                                Length(min=4, max=500, message="漏签原因请写4到500字")],
                           render_kw={"rows": 3, "placeholder": "例如：学员手机没电，未能定位签到，已在纸质签到表签名"})
    photo = FileField("纸质签到表照片", validators=[FileRequired("请上传纸质签到表照片")],
                      render_kw={"accept": "image/*"})
    submit = SubmitField("提交补签申请")


class ScanForm(Form):
    """A desk scan (扫码验券, scan check-in, 签退; static/js/desk-scan.js posts it): the QR's text as
    read. What it says, and whether it may be used here, is the engine's to judge."""

    qr = StringField("二维码内容", filters=[lambda text: (text or "").strip()])


class UndoCheckoutForm(Form):
    """撤销签退 of the 签退 just scanned: which check-in (of the lesson in the URL; the service checks)."""

    check_in_id = WholeNumberField(validators=[DataRequired("缺少要撤销的签退"), NumberRange(1, MAX_ID)])


class VerifyScanForm(ScanForm):
    """扫码验券 also names the class, which the view finds among the institution's own."""

    class_id = StringField()


class ClassStatusForm(Form):
    """开放报名 or 截止报名 (a one-button form on the class page); when a class may change is the view's."""

    status = StringField(validators=[AnyOf((CLASS_OPEN, CLASS_CLOSED), message="请选择开放报名或截止报名")])


TAMPERED = "提交的内容有误，请重新选择"


class ResultsForm(ConfirmForm):
    """考核结果 and 学员评价 of a class, per trainee (for_rows with the trainees' person ids): result-<id>
    is pass, fail or blank (not examined yet), stars-<id> 1 to 5 or blank (not rated)."""

    ROW_FIELDS = {
        "result": StringField(default="", validators=[AnyOf(("pass", "fail", ""), message=TAMPERED)]),
        "stars": StringField(default="", validators=[AnyOf(("", "1", "2", "3", "4", "5"), message=TAMPERED)]),
        # What the page showed (hidden): a blank is a take-back only where the page showed a value,
        # so a page drawn before a result came in (the API, another tab) or a trainee joined clears nothing.
        "shown_result": StringField(default=""),
        "shown_stars": StringField(default=""),
    }
    PASSED = {"pass": True, "fail": False, "": None}

    def _posted(self, name: str, person_ids, read) -> dict:
        """Person id → `read(value)` of each row's `name`; a blank over a blank shown is left out."""
        return {person_id: read(self.row(name, person_id).data) for person_id in person_ids
                if self.row(name, person_id).data or self.row(f"shown_{name}", person_id).data}

    def outcomes(self, person_ids) -> dict:
        """Person id → passed (True, False, or None: taken back)."""
        return self._posted("result", person_ids, self.PASSED.__getitem__)

    def stars(self, person_ids) -> dict:
        """Person id → stars given, or None: 不评价 over a rating shown."""
        return self._posted("stars", person_ids, lambda value: int(value) if value else None)


class SettlementApplyForm(ConfirmForm):
    """结算申请: the codes to claim for, or none for every verified voucher of the class."""

    codes = CodesField("券码（选填）")
