// 扫码台: polls the gun's new scans every ~¾ s and puts each verdict on top, big and coloured.
// Short polling, not a held connection: any app instance answers, and a phone that slept resumes.
// Without JavaScript the page shows the scans as of its loading, with a refresh link.
(function () {
  'use strict';
  var list = document.getElementById('scan-feed');
  if (!list || !window.fetch) { return; }
  var url = list.getAttribute('data-feed-url');
  var lastId = parseInt(list.getAttribute('data-last-id'), 10) || 0;
  var empty = document.getElementById('feed-empty');
  var mode = document.getElementById('station-mode');
  var target = document.getElementById('station-target');
  var seen = document.getElementById('station-seen');
  var MAX_ITEMS = 30;

  function line(cls, text) {
    var p = document.createElement('p');
    p.className = cls;
    p.textContent = text;
    return p;
  }

  function render(scan) {
    var li = document.createElement('li');
    li.className = 'scan scan-' + scan.tone + ' scan-new';
    li.setAttribute('data-id', scan.id);
    li.appendChild(line('scan-title', scan.title));
    li.appendChild(line('scan-message', scan.message || ''));
    if (scan.trainee) {
      li.appendChild(line('scan-trainee', '学员 ' + scan.trainee.name + ' ' + scan.trainee.id_number));
    }
    li.appendChild(line('scan-time', scan.time));
    return li;
  }

  // When the feed stops (sign-in lapsed, network down, gun revoked) the desk must see it at once:
  // the last verdict on top would otherwise pass for the answer to the next trainee's scan.
  var problem = document.getElementById('station-problem');
  var failures = 0;

  function trouble(text) {
    problem.textContent = text;
    problem.hidden = !text;
    list.classList.toggle('stale', !!text);
  }

  function unanswered(r) {
    if (r.redirected || r.status === 401) { return '登录已过期，扫码结果已停止更新：请刷新页面重新登录'; }
    if (r.status === 403 || r.status === 404) { return '无权查看这把扫码枪，扫码结果已停止更新：请返回扫码枪列表'; }
    return '服务器暂时无法应答，扫码结果暂停更新，恢复后自动继续';
  }

  function poll() {
    fetch(url + '?after=' + lastId, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (r) {
        var type = r.headers.get('Content-Type') || '';
        if (r.redirected || !r.ok || type.indexOf('application/json') === -1) {
          trouble(unanswered(r));
          return null;
        }
        return r.json();
      })
      .then(function (data) {
        if (!data) { return; }
        failures = 0;
        trouble(data.revoked ? '这把扫码枪已停用，扫码桥发来的扫码会被拒收' : '');
        mode.textContent = data.mode_label;
        target.textContent = data.target;
        data.scans.forEach(function (scan) {
          if (scan.id <= lastId) { return; }
          lastId = scan.id;
          list.insertBefore(render(scan), list.firstChild);
          seen.textContent = scan.time;
        });
        while (list.children.length > MAX_ITEMS) { list.removeChild(list.lastChild); }
        if (list.children.length) { empty.hidden = true; }
      })
      .catch(function () {
        failures += 1;  // one failure may be a blink the next poll catches up; two are an outage
        if (failures >= 2) { trouble('网络中断，扫码结果暂停更新，恢复后自动继续'); }
      })
      .then(function () { window.setTimeout(poll, document.hidden ? 3000 : 750); });
  }
  window.setTimeout(poll, 750);
}());
