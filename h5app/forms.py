"""Forms every area uses."""
from flask_wtf import FlaskForm
from wtforms import SubmitField


class ConfirmForm(FlaskForm):
    """A one-button action: still a POST with CSRF."""

    submit = SubmitField("确认")


class RuleCheckedForm(FlaskForm):
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
