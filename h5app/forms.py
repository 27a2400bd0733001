"""Forms every area uses."""
from flask_wtf import FlaskForm
from wtforms import SubmitField


class ConfirmForm(FlaskForm):
    """A one-button action: still a POST with CSRF."""

    submit = SubmitField("确认")


def show_problems(form, fields: dict, aliases: dict | None = None) -> None:
    """Put a service's field → message problems (ValidationFailed.details["fields"]) on the form, so
    the page shows the rule's own words where the clerk typed. `aliases` maps a model field to the
    form's name for it (face_value_fen → face_value; sessions.2.ends_at goes to sessions); anything
    else lands on the first field. A field that already has its own error keeps just that one."""
    aliases = aliases or {}
    first = next(f for f in form if f.name != "csrf_token")
    for name, message in fields.items():
        field = getattr(form, aliases.get(name, name.split(".")[0]), None) or first
        if not field.errors:
            field.errors = [*field.errors, message]
