// Keeps a live QR (a voucher's, or my own for check-in) fresh: fetches a new one when its 30-second step ends, and counts down.
// Progressive: without this script the page still shows a valid QR and a refresh link.
(function () {
  'use strict';
  var box = document.getElementById('live-qr');
  var label = document.getElementById('qr-countdown');
  if (!box || !window.fetch) { return; }
  var left = parseInt(box.getAttribute('data-refresh-in'), 10) || 30;

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
        left = data.refresh_in;
        box.classList.remove('stale');
        if (reload) { reload.hidden = true; }
        if (rest) { rest.hidden = false; }
      })
      .catch(function (error) {
        stale(error.message);
        left = error.message === SIGNED_OUT ? Infinity : 5;
      });
  }

  setInterval(function () {
    left -= 1;
    if (left <= 0) { refresh(); return; }
    if (!box.classList.contains('stale')) { label.textContent = left + '秒后自动更新二维码'; }
  }, 1000);
}());
