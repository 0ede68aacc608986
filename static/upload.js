// Material uploads on the applicant's submission page. The form also works without this script
// (it posts every chosen file as multipart/form-data); with it:
// - the fallback submit button is hidden and each file is sent on its own as soon as it is chosen,
//   with XMLHttpRequest PUT to its row's data-url (CSRF token in the X-CSRF-Token header),
//   showing a progress bar;
// - meanwhile the browser computes the file's SHA-256 with hash-wasm (hash-wasm-sha256.js, loaded
//   before this script), reading 4 MiB slices so that a large file is never in memory whole, and
//   shows it beside the SHA-256 the server reports, saying whether the two agree;
// - the row gets data-state="done" (and data-sha256, the agreed digest) or data-state="error";
// - once every material is uploaded, the [data-after-upload] section is shown.
(function () {
  'use strict';

  var SLICE = 4 * 1048576;

  function formatSize(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + ' MB';
    if (n >= 1024) return (n / 1024).toFixed(1) + ' KB';
    return n + ' B';
  }

  // Writes the row's status line; failures are announced at once (role=alert).
  function say(row, text, failed) {
    var state = row.querySelector('.upload-state');
    state.setAttribute('role', failed ? 'alert' : 'status');
    state.setAttribute('aria-live', failed ? 'assertive' : 'polite');
    state.classList.toggle('error', !!failed);
    state.textContent = text;
  }

  // Resolves to the file's SHA-256 in hex, or null if this browser cannot compute it
  // (hash-wasm did not load, no WebAssembly, or the page's CSP forbids compiling it).
  async function browserSha256(file) {
    if (!window.hashwasm || !window.WebAssembly) return null;
    try {
      var hasher = await window.hashwasm.createSHA256();
      hasher.init();
      for (var at = 0; at < file.size; at += SLICE) {
        var buf = await file.slice(at, at + SLICE).arrayBuffer();
        hasher.update(new Uint8Array(buf));
      }
      return hasher.digest('hex');
    } catch (e) {
      return null;
    }
  }

  // Sends the file as the request body. Resolves to the server's JSON answer
  // ({name, sha256, size}); rejects with an Error whose message is bilingual.
  function put(url, csrf, file, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open('PUT', url);
      xhr.setRequestHeader('X-CSRF-Token', csrf);
      // Errors then come back as the API's JSON, with the server's reason.
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.upload.addEventListener('progress', onProgress);
      xhr.addEventListener('load', function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON, e.g. a login page */ }
        if (xhr.status >= 200 && xhr.status < 300 && body && typeof body.sha256 === 'string') {
          resolve(body);
          return;
        }
        var message = body && body.error && body.error.message;
        reject(new Error(message ||
          ('上传失败（HTTP ' + xhr.status + '），请重试 / upload failed (HTTP ' + xhr.status + '), please try again')));
      });
      xhr.addEventListener('error', function () {
        reject(new Error('网络错误，文件未上传完成，请重试 / network error: the file was not uploaded, please try again'));
      });
      xhr.addEventListener('abort', function () {
        reject(new Error('上传已中断，请重试 / the upload was interrupted, please try again'));
      });
      xhr.send(file);
    });
  }

  // Shows [data-after-upload] once every material is in: uploaded now, or before the page loaded
  // (data-uploaded) and not since replaced by a failed upload.
  function revealWhenAllUploaded() {
    var after = document.querySelector('[data-after-upload]');
    if (!after || !after.hidden) return;
    var rows = document.querySelectorAll('[data-material]');
    var all = Array.prototype.every.call(rows, function (row) {
      return row.dataset.state === 'done' || (!row.dataset.state && row.hasAttribute('data-uploaded'));
    });
    if (all) after.hidden = false;
  }

  async function upload(form, row, input) {
    var file = input.files && input.files[0];
    if (!file) return;
    var bar = row.querySelector('progress');
    var digests = row.querySelector('.digests');
    input.disabled = true;
    row.dataset.state = 'uploading';
    row.removeAttribute('data-sha256');
    digests.hidden = true;
    bar.value = 0;
    bar.hidden = false;
    say(row, '上传中 / uploading 0% · 0 B / ' + formatSize(file.size));

    var hashing = browserSha256(file); // runs while the upload streams
    try {
      var answer = await put(row.dataset.url, form.dataset.csrf, file, function (ev) {
        if (!ev.lengthComputable) return;
        var percent = Math.round(ev.loaded / ev.total * 100);
        bar.value = percent;
        say(row, '上传中 / uploading ' + percent + '% · ' + formatSize(ev.loaded) + ' / ' + formatSize(ev.total));
      });
      say(row, '正在核对 SHA-256 / checking the SHA-256');
      var local = await hashing;
      var server = answer.sha256.toLowerCase();
      row.querySelector('.browser-sha').textContent = local || '—';
      row.querySelector('.server-sha').textContent = server;
      digests.hidden = false;
      // What the page said before this upload (not uploaded, or the previous file's digest)
      // no longer holds.
      row.querySelectorAll('.not-uploaded, .previous').forEach(function (el) {
        el.remove();
      });
      if (local === null) {
        row.dataset.state = 'done';
        say(row, '✓ 已上传；本浏览器无法计算 SHA-256，请自行核对服务器的摘要 / uploaded; ' +
          'this browser could not compute the SHA-256, please check the server\'s digest yourself');
      } else if (local === server) {
        row.dataset.sha256 = server;
        row.dataset.state = 'done';
        say(row, '✓ 已上传，两端 SHA-256 一致 / uploaded, both SHA-256 agree');
      } else {
        row.dataset.state = 'error';
        say(row, '✗ SHA-256 不一致，请重新上传 / the digests differ: upload again', true);
      }
    } catch (err) {
      row.dataset.state = 'error';
      say(row, '✗ ' + err.message, true);
    }
    bar.hidden = true;
    input.disabled = false;
    // Let choosing the same file again fire 'change', so that "upload again" works.
    if (row.dataset.state === 'error') input.value = '';
    else revealWhenAllUploaded();
  }

  if (!window.XMLHttpRequest || !window.Promise) return;
  document.querySelectorAll('[data-upload-form]').forEach(function (form) {
    form.querySelectorAll('[data-upload-fallback]').forEach(function (b) { b.hidden = true; });
    // Files are sent one by one as they are chosen; never post them all again as multipart.
    form.addEventListener('submit', function (e) { e.preventDefault(); });
    form.querySelectorAll('[data-material-input]').forEach(function (input) {
      var row = input.closest('[data-material]');
      if (!row) return;
      input.addEventListener('change', function () { upload(form, row, input); });
    });
  });
})();
