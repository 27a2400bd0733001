"""An attendance rate reads the same in its column as in the reason beside it: 0.4% is not 0%."""
import pytest

from h5app.template_filters import percent


@pytest.mark.parametrize("value, shown", [(0.004, "0.4%"), (0.5, "50%"), (0.8333, "83.3%"), (1, "100%"),
                                          (0, "0%"), (None, "—")])
def test_a_rate_is_shown_to_a_tenth_of_a_percent_without_trailing_zeros(value, shown):
    assert percent(value) == shown


def test_a_statistic_may_ask_for_more_digits():
    assert percent(0.12345, 2) == "12.35%"
