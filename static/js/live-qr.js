// Keeps a live QR (a voucher's, or my own for check-in) fresh: fetches a new one when its 30-second step ends, and counts down.
// Progressive: without this script the page still shows a valid QR and a refresh link.
// The clock decides, not the count of timer ticks: a locked phone or a webview in the background
// runs no timers, and the QR shown on return may be long past its 60 seconds.
(function () {
  'use strict';
  var box = document.getElementById('live-qr');
  var label = document.getElementById('qr-countdown');
  if (!box || !window.fetch) { return; }
  var STEP_MS = 30000;  // a QR is accepted for its own step and the next (h5app/vouchers/qrtoken.py)
  var due = Date.now() + (parseInt(box.getAttribute('data-refresh-in'), 10) || 30) * 1000;
  var busy = false;

  var SIGNED_OUT = 'signed-out';
  var reload = document.getElementById('qr-reload');
  var rest = document.getElementById('qr-hint-rest');  // "，请向培训机构出示" — not while the QR is stale

  // The QR on screen is no longer valid: say why, and offer the reload (pulling down to refresh
  // does nothing in WeChat's webview).
  function stale(why) {
    box.classList.add('stale');
    label.textContent = why === SIGNED_OUT
      ? '登录已过期，二维码已失效，请点“刷新”重新进入'
      : '网络不稳定，二维码未能更新，已失效。请检查网络后点“刷新”';
    if (reload) { reload.hidden = false; }
    if (rest) { rest.hidden = true; }
  }

  function refresh() {
    if (busy) { return; }
    busy = true;
    if (Date.now() >= due + STEP_MS && !box.classList.contains('stale')) {  // back after its 60 seconds
      box.classList.add('stale');
      label.textContent = '二维码已过期，正在更新…';
      if (rest) { rest.hidden = true; }
    }
    fetch(box.getAttribute('data-src'), { credentials: 'same-origin', cache: 'no-store' })
      .then(function (response) {
        // Signed out: the answer is the sign-in page (a redirect), not the QR.
        if (response.redirected || response.status === 401 || response.status === 403) {
          throw new Error(SIGNED_OUT);
        }
        // The voucher changed meanwhile (used, revoked …): the page itself says what it is now.
        if (response.status === 404 || response.status === 409) { window.location.reload(); return null; }
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) {
        if (!data) { return; }
        box.innerHTML = data.svg;
        due = Date.now() + data.refresh_in * 1000;
        box.classList.remove('stale');
        if (reload) { reload.hidden = true; }
        if (rest) { rest.hidden = false; }
      })
      .catch(function (error) {
        stale(error.message);
        due = error.message === SIGNED_OUT ? Infinity : Date.now() + 5000;
      })
      .then(function () { busy = false; });
  }

  function tick() {
    var left = Math.ceil((due - Date.now()) / 1000);
    if (left <= 0) { refresh(); return; }
    if (!box.classList.contains('stale')) { label.textContent = left + '秒后自动更新二维码'; }
  }

  setInterval(tick, 1000);
  // Back from a locked screen, another app or the back button: look at the clock at once.
  document.addEventListener('visibilitychange', function () { if (!document.hidden) { tick(); } });
  window.addEventListener('pageshow', tick);
}());
