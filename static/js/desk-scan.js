// The front desk's scanner (扫码验券, scan check-in): camera scanning (vendored qr-scanner, MIT) or a scan gun typing into the
// box; the verdict comes back as JSON and is shown big, with a vibration and a beep where allowed.
// Without JavaScript the same form posts and the server renders the verdict page.
(function () {
  'use strict';
  var scanner = document.getElementById('scanner');
  var form = document.getElementById('typed-verify');
  var verdict = document.getElementById('verdict');
  if (!scanner || !form || !window.fetch) { return; }
  var video = document.getElementById('scan-video');
  var startButton = document.getElementById('start-camera');
  var camera = null;
  var busy = false;

  function beep(ok) {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return; }
      var ctx = new Ctx();
      var osc = ctx.createOscillator();
      osc.frequency.value = ok ? 1200 : 300;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + (ok ? 0.15 : 0.4));
    } catch (e) { /* sound is a courtesy */ }
  }

  // 课次签到: the answer carries the lesson's 签到表, redrawn here so the count follows each scan.
  function redrawSheet(sheet) {
    var section = document.getElementById('checkin-sheet');
    if (!section || !sheet) { return; }
    section.querySelector('[data-sheet-count]').textContent = sheet.checked_in + '/' + sheet.total;
    var body = section.querySelector('[data-sheet-rows]');
    if (!sheet.rows.length) { return; }
    body.textContent = '';
    sheet.rows.forEach(function (row) {
      var tr = document.createElement('tr');
      var labels = ['姓名', '身份证号', '签到', '签退'];  // a card per trainee on a phone (.table-stack)
      [row.name, row.id_number, row.checked_in || '未签到', row.checked_out || '—'].forEach(function (text, i) {
        var td = document.createElement('td');
        td.textContent = text;
        td.setAttribute('data-label', labels[i]);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function show(data) {
    redrawSheet(data.sheet);
    verdict.className = 'verdict verdict-' + data.tone;
    verdict.querySelector('.verdict-title').textContent = data.title;
    verdict.querySelector('.verdict-message').textContent = data.message || '';
    verdict.querySelector('.verdict-trainee').textContent = data.trainee
      ? '学员 ' + data.trainee.name + ' ' + data.trainee.id_number + '，请核对本人' : '';
    var undo = verdict.querySelector('.verdict-undo');
    if (undo) {  // 签退 just scanned: it may be taken back
      undo.hidden = !data.undo;
      undo.querySelector('[name=check_in_id]').value = data.undo ? data.undo.check_in_id : '';
    }
    verdict.hidden = false;
    scanner.hidden = true;
    if (navigator.vibrate) { navigator.vibrate(data.tone === 'ok' ? 120 : [80, 60, 80, 60, 200]); }
    beep(data.tone === 'ok');
    verdict.querySelector('.next-scan').focus();
  }

  function submit(text) {
    if (busy) { return; }
    busy = true;
    if (camera) { camera.stop(); }
    var body = new FormData(form);
    body.set('qr', text);
    send(form.action || window.location.href, body);
  }

  function send(url, body) {
    fetch(url, {
      method: 'POST', body: body, credentials: 'same-origin', headers: { Accept: 'application/json' }
    }).then(function (response) {
      var type = response.headers.get('Content-Type') || '';
      if (response.redirected || type.indexOf('application/json') === -1) { return show(unanswered(response)); }
      return response.json().then(show);
    }).catch(function () {
      show({ tone: 'no', title: '网络不通', message: '没有连上服务器，请检查网络后扫下一张重试' });
    });
  }

  // The server answered, but not with a verdict: say what the desk can do about it.
  function unanswered(response) {
    if (response.redirected || response.status === 401) {
      return { tone: 'no', title: '登录已过期', message: '请刷新页面重新登录，再扫这一张' };
    }
    if (response.status === 400) {
      // The form's CSRF token no longer matches: the sign-in lapsed, or the page is old.
      return { tone: 'no', title: '页面已过期', message: '请刷新页面（如提示登录请重新登录）后再扫这一张' };
    }
    if (response.status === 403 || response.status === 404) {
      return { tone: 'no', title: '不能在此扫码', message: '没有权限或班期已变化，请返回刷新后重试' };
    }
    return { tone: 'no', title: '系统繁忙', message: '服务器暂时无法处理，请稍后扫下一张重试' };
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    submit(form.querySelector('[name=qr]').value.trim());
  });

  var undoForm = verdict.querySelector('.verdict-undo');
  if (undoForm) {
    undoForm.addEventListener('submit', function (event) {
      event.preventDefault();
      undoForm.hidden = true;
      send(undoForm.action, new FormData(undoForm));
    });
  }

  verdict.querySelector('.next-scan').addEventListener('click', function (event) {
    event.preventDefault();
    busy = false;
    verdict.hidden = true;
    scanner.hidden = false;
    form.querySelector('[name=qr]').value = '';
    if (camera) { camera.start(); } else { form.querySelector('[name=qr]').focus(); }
  });

  if (window.QrScanner && navigator.mediaDevices) {
    startButton.hidden = false;
    startButton.addEventListener('click', function () {
      video.parentNode.hidden = false;
      startButton.hidden = true;
      camera = new window.QrScanner(video, function (result) { submit(result.data || result); },
        { returnDetailedScanResult: true, preferredCamera: 'environment', highlightScanRegion: true });
      camera.start().catch(function () {
        video.parentNode.hidden = true;
        startButton.hidden = false;
        camera = null;
        window.alert('无法打开摄像头：请允许使用摄像头，或用扫码枪/输入框验券');
      });
    });
  }
}());
