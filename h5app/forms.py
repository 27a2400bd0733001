"""Forms every area uses."""
from flask_wtf import FlaskForm
from wtforms import SubmitField


class ConfirmForm(FlaskForm):
    """A one-button action: still a POST with CSRF."""

    submit = SubmitField("确认")
