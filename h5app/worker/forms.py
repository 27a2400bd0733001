"""Worker forms: most worker actions are one confirm button, still a POST with CSRF."""
from flask_wtf import FlaskForm
from wtforms import SubmitField


class ConfirmForm(FlaskForm):
    submit = SubmitField("确认")
