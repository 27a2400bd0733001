"""Browser fixtures: Debian's chromium driven by Playwright at 375×667 with a WeChat user agent,
against the app behind a real server. Each test module names its screenshot folder in SCREENS."""
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from werkzeug.serving import make_server

from h5app.extensions import db

from .. import factories as f

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

WIDTH, HEIGHT = 375, 667
WECHAT_UA = ("Mozilla/5.0 (Linux; Android 10; HMA-AL00 Build/HUAWEIHMA-AL00; wv) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 "
             "MMWEBSDK/20230701 MicroMessenger/8.0.40.2420(0x28002851) NetType/WIFI Language/zh_CN")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
MIN_TAP = 44

# What a phone page must satisfy, measured in the page itself.
MEASURE = """() => {
  const visible = el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const label = el => (el.innerText || el.value || el.name || el.id || el.tagName).trim().slice(0, 20);
  const controls = [...document.querySelectorAll(
      'button, input:not([type=hidden]), select, textarea, a.button')].filter(visible);
  const links = [...document.querySelectorAll('a:not(.button):not(.skip)')].filter(visible);
  return {
    scrollWidth: document.documentElement.scrollWidth,
    bodyFontPx: parseFloat(getComputedStyle(document.body).fontSize),
    lang: document.documentElement.lang,
    text: document.body.innerText,
    // A radio or checkbox inside its <label> is tapped through the label: measure that.
    controls: controls.map(el => ({label: label(el),
                                   height: (el.closest('label') || el).getBoundingClientRect().height})),
    smallLinks: links.filter(el => el.getBoundingClientRect().height < 44)
                     .map(el => ({label: label(el), height: Math.round(el.getBoundingClientRect().height)})),
  };
}"""


class Shots:
    """Screenshots in walk order, plus what a reviewer should know that is not a failure."""

    def __init__(self, folder: Path):
        self.folder, self.count, self.notes = folder, 0, []

    def check_and_save(self, page, name: str) -> dict:
        # An element can match before the stylesheet has loaded; measure the page as a person sees it.
        page.wait_for_load_state("load")
        m = page.evaluate(MEASURE)
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)
        assert m["scrollWidth"] <= WIDTH, f"{name}: page is {m['scrollWidth']}px wide, scrolls sideways"
        assert m["bodyFontPx"] >= 16, f"{name}: body text is {m['bodyFontPx']}px"
        assert m["lang"] == "zh-CN"
        cjk = len(re.findall(r"[\u4e00-\u9fff]", m["text"]))
        latin = len(re.findall(r"[A-Za-z]", m["text"]))
        assert cjk >= 10 and cjk >= 4 * latin, f"{name}: visible text is not mostly Chinese: {m['text'][:200]!r}"
        small = [c for c in m["controls"] if c["height"] < MIN_TAP]
        assert not small, f"{name}: controls under {MIN_TAP}px tall: {small}"
        if m["smallLinks"]:
            self.notes.append(f"{name}: text links under {MIN_TAP}px tall: {m['smallLinks']}")
        return m


@pytest.fixture(scope="module")
def shot_log(request):
    """One numbering and one list of notes for the module; the folder is printed at the end."""
    log = Shots(None)
    yield log
    if log.folder is None:
        return
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nscreenshots ({log.count}): {log.folder}")
        for note in log.notes:
            print(f"  note: {note}")


@pytest.fixture
def shots(request, artifacts_dir, shot_log):
    if shot_log.folder is None:
        shot_log.folder = artifacts_dir / getattr(request.module, "SCREENS", "screens")
        shot_log.folder.mkdir(parents=True, exist_ok=True)
        for old in shot_log.folder.glob("*.png"):
            old.unlink()
    return shot_log


@pytest.fixture(scope="module")
def server(make_app):
    """The app behind a real HTTP server on a free port, CSRF on, as in production."""
    app = make_app(WTF_CSRF_ENABLED=True)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    yield SimpleNamespace(app=app, url=f"http://127.0.0.1:{httpd.server_port}")
    httpd.shutdown()
    thread.join(timeout=10)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def playwright():
    """One Playwright per module: its sync API cannot be started twice at once."""
    with playwright_api.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright):
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def camera_page(playwright, server):
    """A phone tab whose camera films `video` (a Y4M file): chromium's fake capture device."""
    opened = []

    def open_page(video):
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS + [
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"])
        opened.append(chromium)
        context = chromium.new_context(viewport={"width": WIDTH, "height": HEIGHT}, is_mobile=True, has_touch=True,
                                       user_agent=WECHAT_UA, locale="zh-CN", base_url=server.url,
                                       permissions=["camera"])
        context.set_default_timeout(15_000)
        return context.new_page()

    yield open_page
    for chromium in opened:
        chromium.close()


@pytest.fixture
def make_page(browser, server):
    """A phone-sized WeChat tab; extra context options (geolocation, permissions, no JS) allowed."""
    contexts = []

    def open_page(**options):
        context = browser.new_context(**{
            "viewport": {"width": WIDTH, "height": HEIGHT}, "is_mobile": True, "has_touch": True,
            "device_scale_factor": 2, "user_agent": WECHAT_UA, "locale": "zh-CN", "base_url": server.url,
            **options})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(make_page):
    return make_page()


def commit():
    """Seeded rows become visible to the server; the test holds no transaction while it browses."""
    db.session.commit()
    db.session.close()


def staff_sign_in(page, username, landing):
    """Sign in on /login with the factories' password and wait for the area's home page."""
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(f.PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"**{landing}")


def sign_in(page, username):
    staff_sign_in(page, username, "/institution/")


def save(shots, page, name):
    """Screenshot from the top, tables unscrolled: the sticky top bar and the tables' own sideways
    scroll would otherwise be drawn where the last click left them."""
    page.evaluate("() => { window.scrollTo(0, 0); "
                  "document.querySelectorAll('.table').forEach(t => { t.scrollLeft = 0; }); }")
    return shots.check_and_save(page, name)


@contextmanager
def reading():
    """A look at the database that ends its transaction at once: on SQLite every transaction takes
    the write lock (BEGIN IMMEDIATE), so a test that kept one open would stall the server."""
    try:
        yield db.session
    finally:
        db.session.rollback()




def choose_template(select, name: str) -> None:
    """Pick the template named `name` in one of 发券's lists, whose choices also give its state,
    stock left and number (VoucherTemplate.choice_label)."""
    from sqlalchemy import select as query

    from h5app.models import VoucherTemplate

    with reading() as s:
        label = s.scalars(query(VoucherTemplate).where(VoucherTemplate.name == name)).one().choice_label
    select.select_option(label=label)
