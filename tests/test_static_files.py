"""Static files: pages link content-hashed names, served gzipped with a year's immutable cache; the
plain names still answer with a short cache; a missing file is a 404."""
import gzip
import hashlib
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"
STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/static/css/app\.([0-9a-f]{12})\.css)">')


def linked_stylesheet(client) -> tuple[str, str]:
    match = STYLESHEET.search(client.get("/login").get_data(as_text=True))
    assert match, "the page links app.css by a hashed name"
    return match.groups()


def test_a_page_links_the_stylesheet_by_the_hash_of_what_that_name_serves(client):
    url, digest = linked_stylesheet(client)
    response = client.get(url)  # no Accept-Encoding: the file as it is
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert hashlib.sha256(response.get_data()).hexdigest()[:12] == digest


def test_a_hashed_file_is_gzipped_for_a_client_that_accepts_it_and_cached_for_a_year(client):
    url, _ = linked_stylesheet(client)
    response = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert response.headers["Cache-Control"] == "max-age=31536000, public, immutable"
    assert response.mimetype == "text/css"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert gzip.decompress(response.get_data()) == client.get(url).get_data()


def test_the_plain_name_still_answers_with_a_short_cache(client):
    # The QR scanner library imports its worker module by its plain name.
    response = client.get("/static/vendor/qr-scanner/qr-scanner-worker.min.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "max-age=60, public"
    body = response.get_data()
    if response.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    assert body == (STATIC / "vendor/qr-scanner/qr-scanner-worker.min.js").read_bytes()


def test_a_missing_static_file_is_a_404(client):
    assert client.get("/static/css/missing.css").status_code == 404
    assert client.get("/static/css/app.000000000000.css").status_code == 404
    assert client.get("/static/../h5app/__init__.py").status_code == 404


def test_in_debug_mode_pages_link_plain_names_so_an_edit_shows_at_once(make_app):
    with make_app(DEBUG=True).test_client() as client:
        assert '<link rel="stylesheet" href="/static/css/app.css">' in client.get("/login").get_data(as_text=True)
