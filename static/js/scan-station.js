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

  function poll() {
    fetch(url + '?after=' + lastId, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
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
      .catch(function () { /* the network blinked: the next poll catches up */ })
      .then(function () { window.setTimeout(poll, document.hidden ? 3000 : 750); });
  }
  window.setTimeout(poll, 750);
}());
