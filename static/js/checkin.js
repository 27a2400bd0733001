// Location check-in and check-out: asks the browser for the position, puts it in the form, then sends it.
// The server decides (site radius, session time); this only gathers the coordinates.
(function () {
  'use strict';
  var forms = document.querySelectorAll('form.geo-checkin');
  Array.prototype.forEach.call(forms, function (form) {
    form.addEventListener('submit', function (event) {
      if (form.getAttribute('data-located') === '1') { return; }
      event.preventDefault();
      var button = form.querySelector('[type=submit]');
      var label = button.textContent;  // 定位签到 or 定位签退
      var doing = label.slice(-2);
      if (!navigator.geolocation) {
        window.alert('您的手机浏览器不支持定位，请出示“我的签到二维码”请培训机构扫码' + doing);
        return;
      }
      button.disabled = true;
      button.textContent = '正在定位…';
      navigator.geolocation.getCurrentPosition(function (position) {
        form.querySelector('[name=lat]').value = position.coords.latitude;
        form.querySelector('[name=lng]').value = position.coords.longitude;
        form.setAttribute('data-located', '1');
        form.submit();
      }, function () {
        button.disabled = false;
        button.textContent = label;
        window.alert('没有拿到您的位置：请在手机设置中允许定位后重试，或请培训机构扫码' + doing);
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 });
    });
  });
}());
