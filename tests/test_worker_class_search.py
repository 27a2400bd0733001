"""找培训 as a signed-in worker searches for a class: by keyword (a course, an occupation or an
institution's name; % and _ are plain characters), district (named with its city), minimum rating
and start date — a filter with a bad value is left out, the page says so, and the others still
apply."""
import pytest

from h5app.extensions import db
from h5app.models import ClassRating

from . import factories as f
from .auth_support import signed_in_worker, text_of


@pytest.fixture
def worker(client):
    return signed_in_worker(client, name="王建国", region_code="330602")


def test_class_search_by_keyword_and_district(client, worker):
    f.training_class(f.institution(region_code="330602"), course_name="低压电工作业培训", occupation="电工")
    f.training_class(f.institution(region_code="330603"), course_name="育婴员培训", occupation="育婴员")
    f.region("330602", "越城区", parent="330600")
    db.session.commit()
    assert "低压电工作业培训" in text_of(client.get("/worker/classes?q=电工"))
    assert "育婴员培训" not in text_of(client.get("/worker/classes?q=电工"))
    assert "育婴员培训" not in text_of(client.get("/worker/classes?district=330602"))
    assert client.get("/worker/classes?starts_after=not-a-date").status_code == 200


def test_class_search_finds_an_institution_by_name(client, worker):
    f.training_class(f.institution(name="绍兴市技师学院"), course_name="电工班")
    f.training_class(f.institution(name="柯桥新星学校"), course_name="厨师班")
    db.session.commit()
    page = text_of(client.get("/worker/classes?q=技师学院"))
    assert "电工班" in page and "厨师班" not in page


def test_class_search_by_minimum_rating(client, worker):
    good = f.training_class(course_name="好评班")
    f.training_class(course_name="无评价班")
    db.session.add(ClassRating(class_id=good.id, person_id=f.person().id, stars=5))
    db.session.commit()
    page = text_of(client.get("/worker/classes?min_rating=4"))
    assert "好评班" in page and "无评价班" not in page


# --- a filter with a bad value ------------------------------------------------------------------

@pytest.fixture
def two_classes(worker):
    f.region("330602", "越城区", parent="330600")
    f.training_class(f.institution(region_code="330602"), course_name="低压电工作业培训", occupation="电工")
    f.training_class(f.institution(region_code="330603"), course_name="育婴员培训", occupation="育婴员")
    db.session.commit()


@pytest.mark.parametrize("rating", ["abc", "9", "-1"])
def test_a_bad_rating_filter_is_ignored_with_a_message(client, two_classes, rating):
    response = client.get(f"/worker/classes?min_rating={rating}&q=电工")
    page = text_of(response)
    assert response.status_code == 200
    assert "评分请选“4星以上”或“3星以上”，本次未按评分筛选" in page
    assert "低压电工作业培训" in page and "育婴员培训" not in page


def test_an_over_long_query_keeps_the_other_filters(client, two_classes):
    page = text_of(client.get("/worker/classes?q=" + "育" * 41 + "&district=330602"))
    assert "关键词最多40个字，本次未按关键词搜索" in page
    assert "低压电工作业培训" in page and "育婴员培训" not in page


def test_an_unreadable_start_date_is_said_and_the_rest_applies(client, two_classes):
    page = text_of(client.get("/worker/classes?starts_after=abc&q=育婴"))
    assert "开班日期请按“年-月-日”填写（如2026-03-01），本次未按开班日期筛选" in page
    assert '<details class="more-filters" open>' in page
    assert "育婴员培训" in page and "低压电工作业培训" not in page


def test_an_unknown_district_is_ignored_with_a_message(client, two_classes):
    page = text_of(client.get("/worker/classes?district=999999&q=电工"))
    assert "所选地区不在列表中，本次未按地区筛选" in page and "低压电工作业培训" in page


@pytest.mark.parametrize("q, found", [("%", ["电工100%通过班"]), ("_", ["电工_实操班"]), ("1_0", [])])
def test_percent_and_underscore_in_class_search_are_plain_characters(client, worker, q, found):
    for name in ("低压电工作业培训", "电工_实操班", "电工100%通过班"):
        f.training_class(course_name=name)
    db.session.commit()
    page = text_of(client.get("/worker/classes", query_string={"q": q}))
    listed = [name for name in ("低压电工作业培训", "电工_实操班", "电工100%通过班") if f"<h2>{name}" in page]
    assert listed == found


def test_the_district_filter_names_the_city_of_each_district(client, worker):
    f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    f.region("370100", "济南市", "shandong")
    f.region("370102", "历下区", "shandong", parent="370100")
    db.session.commit()
    page = text_of(client.get("/worker/classes"))
    assert '<option value="370102">济南市历下区</option>' in page
    assert '<option value="330602">绍兴市越城区</option>' in page
