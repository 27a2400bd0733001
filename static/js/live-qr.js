// Keeps a live QR (a voucher's, or my own for check-in) fresh: fetches a new one when its 30-second step ends, and counts down.
// Progressive: without this script the page still shows a valid QR and a refresh link.
(function () {
  'use strict';
  var box = document.getElementById('live-qr');
  var label = document.getElementById('qr-countdown');
  if (!box || !window.fetch) { return; }
  var left = parseInt(box.getAttribute('data-refresh-in'), 10) || 30;

  function refresh() {
    fetch(box.getAttribute('data-src'), { credentials: 'same-origin', cache: 'no-store' })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) {
        box.innerHTML = data.svg;
        left = data.refresh_in;
        box.classList.remove('stale');
      })
      .catch(function () {
        box.classList.add('stale');
        label.textContent = '网络不稳定，二维码未能更新，请稍后下拉刷新页面';
        left = 5;
      });
  }

  setInterval(function () {
    left -= 1;
    if (left <= 0) { refresh(); return; }
    if (!box.classList.contains('stale')) { label.textContent = left + '秒后自动更新二维码'; }
  }, 1000);
}());
