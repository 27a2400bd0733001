"""A bureau sees what lies in its region: a province its cities and districts, a city its districts,
a district itself. In SQL the rule is a range of codes (an index answers it); it must agree with
region_covers, the same rule in Python, code for code."""
import pytest
from sqlalchemy import select

from h5app.models import Region, in_region, region_covers

CODES = ["330000", "330600", "330602", "330603", "330681", "330700", "330702", "500000", "500101", "320200"]


@pytest.mark.parametrize("bureau", ["330000", "330600", "330602", "330700", "500000", "320200", "320281"])
def test_the_sql_region_filter_selects_exactly_what_region_covers_allows(session, bureau):
    session.add_all(Region(code=code, name=code) for code in CODES)
    session.commit()

    selected = set(session.scalars(select(Region.code).where(in_region(Region.code, bureau))))

    assert selected == {code for code in CODES if region_covers(bureau, code)}
    assert selected or bureau == "320281"  # a district with nothing registered under it sees nothing
