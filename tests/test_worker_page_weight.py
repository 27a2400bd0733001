"""Worker pages stay light for a slow network: a page's HTML plus the CSS and JS it loads is under
30 KB gzipped, and nothing is loaded from another host."""
import gzip
from datetime import timedelta

import pytest

from h5app.extensions import db
from h5app.timeutil import utcnow

from . import factories as f
from .auth_support import sign_in
from .page_support import ASSET, BUDGET, EXTERNAL


@pytest.fixture
def pages(client):
    worker = f.person()
    voucher = f.voucher(f.template(), worker, "claimed", expires_at=utcnow() + timedelta(days=9))
    training_class = f.training_class()
    db.session.commit()
    sign_in(client, worker)
    return ["/worker/", "/worker/cards", "/worker/vouchers", f"/worker/vouchers/{voucher.code}", "/worker/classes",
            f"/worker/classes/{training_class.id}", "/worker/checkin", "/worker/qr", "/worker/certificates",
            "/worker/jobs", "/worker/messages", "/worker/me"]


def test_every_worker_page_with_its_assets_is_under_30kb_gzipped(client, pages):
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data()
        total = len(gzip.compress(html))
        for asset in set(ASSET.findall(html.decode())):
            total += len(gzip.compress(client.get(asset).get_data()))
        assert total < BUDGET, f"{url}: {total} bytes gzipped"


def test_worker_pages_load_nothing_from_another_host(client, pages):
    for url in pages:
        assert not EXTERNAL.search(client.get(url).get_data(as_text=True)), url
