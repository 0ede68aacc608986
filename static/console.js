// Window console enhancements. Every form also works without this script.
// - drag-and-drop onto a drop zone fills its file input;
// - the window-check form uploads with XMLHttpRequest to show a progress bar, sending the
//   session's CSRF token in the X-CSRF-Token header as well as in the form;
// - [data-print] buttons print the page;
// - a field with data-max shows, as you type, how many characters it holds of its limit
//   (counted as the server counts them: characters, not UTF-16 units).
(function () {
  'use strict';

  function formatSize(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + ' MB';
    if (n >= 1024) return (n / 1024).toFixed(1) + ' KB';
    return n + ' B';
  }

  function listFiles(input) {
    var zone = input.closest('[data-drop]') || input.parentNode;
    var list = zone.querySelector('.chosen');
    if (!list) return;
    list.textContent = '';
    Array.prototype.forEach.call(input.files, function (f) {
      var li = document.createElement('li');
      li.textContent = f.name + ' (' + formatSize(f.size) + ')';
      list.appendChild(li);
    });
  }

  document.querySelectorAll('[data-drop]').forEach(function (zone) {
    var input = zone.querySelector('input[type=file]');
    if (!input) return;
    input.addEventListener('change', function () { listFiles(input); });
    zone.addEventListener('dragover', function (e) { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', function () { zone.classList.remove('over'); });
    zone.addEventListener('drop', function (e) {
      e.preventDefault();
      e.stopPropagation();
      zone.classList.remove('over');
      var files = e.dataTransfer && e.dataTransfer.files;
      if (!files || !files.length) return;
      if (input.multiple || files.length === 1) {
        input.files = files;
      } else {
        var one = new DataTransfer();
        one.items.add(files[0]);
        input.files = one.files;
      }
      listFiles(input);
    });
  });

  document.querySelectorAll('[data-print]').forEach(function (button) {
    button.addEventListener('click', function () { window.print(); });
  });

  document.querySelectorAll('[data-max]').forEach(function (input) {
    var counter = document.querySelector('[data-counter-for="' + input.id + '"]');
    if (!counter) return;
    var max = Number(input.dataset.max);
    var update = function () {
      var n = Array.from(input.value.trim()).length;
      counter.textContent = n + ' / ' + max;
      counter.classList.toggle('over', n > max);
      if (n > max) {
        counter.textContent += ' 超出 ' + (n - max) + ' 字 / ' + (n - max) + ' too many';
      }
    };
    input.addEventListener('input', update);
    update();
  });

  var form = document.getElementById('window-check');
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var button = form.querySelector('button[type=submit]');
    var box = form.querySelector('.progress');
    var bar = box.querySelector('progress');
    var text = box.querySelector('.progress-text');
    var failure = form.querySelector('.upload-error');
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('X-CSRF-Token', form.dataset.csrf);
    xhr.upload.addEventListener('progress', function (ev) {
      if (!ev.lengthComputable) return;
      var percent = Math.round(ev.loaded / ev.total * 100);
      bar.value = percent;
      text.textContent = '上传并计算摘要 / uploading and hashing: ' + percent + '% (' +
        formatSize(ev.loaded) + ' / ' + formatSize(ev.total) + ')';
    });
    xhr.addEventListener('load', function () {
      if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL) {
        // The server answered with a redirect to the stored report, which XHR followed.
        window.location.assign(xhr.responseURL);
        return;
      }
      var page = new DOMParser().parseFromString(xhr.responseText, 'text/html');
      var message = page.querySelector('[role=alert]');
      failure.textContent = message ? message.textContent : ('HTTP ' + xhr.status);
      failure.hidden = false;
      button.disabled = false;
    });
    xhr.addEventListener('error', function () {
      failure.textContent = '网络错误，请重试 / network error, please try again';
      failure.hidden = false;
      button.disabled = false;
    });
    failure.hidden = true;
    box.hidden = false;
    bar.value = 0;
    button.disabled = true;
    xhr.send(new FormData(form));
  });
})();
