// The live count before a general issuance: as the filters change, asks the server how many people
// they reach (and how many already hold the voucher). On the 预览 page a change also marks the
// preview below as stale, so what is confirmed is always what was previewed.
(function () {
  'use strict';
  var form = document.getElementById('general-issue');
  var out = document.getElementById('population-count');
  var src = document.currentScript && document.currentScript.getAttribute('data-src');
  if (!form || !out || !window.fetch || !window.URLSearchParams) { return; }
  src = src || '/bureau/issue/count';
  var preview = document.getElementById('population-preview');
  var stale = document.getElementById('preview-stale');
  var asked = 0;
  var timer = null;

  function params() {
    var query = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === 'submit' || ((el.type === 'checkbox' || el.type === 'radio') && !el.checked)) {
        return;
      }
      query.append(el.name, el.value);
    });
    return query;
  }

  function update() {
    var template = form.querySelector('[name=template_id]');
    if (!template || !template.value) { out.hidden = true; return; }
    var mine = ++asked;
    fetch(src + '?' + params().toString(), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (mine !== asked) { return; }  // an older answer arriving late
        var text;
        if (data.count !== undefined) {
          text = '符合条件的人数：' + data.count + ' 人';
          if (data.held) { text += '（另有 ' + data.held + ' 人已持有该券，不再发放）'; }
          if (data.stock_problem) { text += '。' + data.stock_problem; }
        } else {
          text = data.error ? data.error.message : '暂时无法统计人数，请点击“预览”';
        }
        out.textContent = text;
        out.hidden = false;
      })
      .catch(function () {
        if (mine !== asked) { return; }
        out.textContent = '暂时无法统计人数，请点击“预览”';
        out.hidden = false;
      });
  }

  function changed() {
    if (preview && !preview.hidden) {
      preview.hidden = true;
      if (stale) { stale.hidden = false; }
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(update, 250);
  }

  form.addEventListener('change', changed);
  form.addEventListener('input', changed);
}());
