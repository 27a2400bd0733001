"""Institution forms."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import SubmitField


class RosterForm(FlaskForm):
    file = FileField("花名册文件（CSV 或 Excel）", validators=[
        FileRequired("请选择要上传的文件"),
        FileAllowed(["csv", "xlsx", "txt"], "只支持 CSV 或 Excel（.xlsx）文件"),
    ])
    submit = SubmitField("上传并导入")
