// The live count before a general issuance: asks the server how many people the filters reach.
(function () {
  'use strict';
  var form = document.getElementById('general-issue');
  var out = document.getElementById('population-count');
  var src = document.currentScript && document.currentScript.getAttribute('data-src');
  if (!form || !out || !window.fetch) { return; }
  src = src || '/bureau/issue/count';
  function update() {
    var template = form.querySelector('[name=template_id]').value;
    if (!template) { out.hidden = true; return; }
    var params = new URLSearchParams({ template_id: template });
    Array.prototype.forEach.call(form.querySelectorAll('[name=groups]:checked'), function (box) {
      params.append('groups', box.value);
    });
    fetch(src + '?' + params.toString(), { credentials: 'same-origin' })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        out.textContent = data.count !== undefined ? '符合条件的人数：' + data.count + ' 人' : data.error.message;
        out.hidden = false;
      });
  }
  form.addEventListener('change', update);
}());
