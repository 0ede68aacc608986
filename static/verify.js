// Verification page enhancement: dropping a PDF on the drop zone verifies it at once.
// The page works without this script (choose the file, press the button).
(function () {
  'use strict';
  document.querySelectorAll('[data-drop]').forEach(function (zone) {
    var input = zone.querySelector('input[type=file]');
    if (!input) return;
    zone.addEventListener('dragover', function (e) { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', function () { zone.classList.remove('over'); });
    zone.addEventListener('drop', function (e) {
      e.preventDefault();
      zone.classList.remove('over');
      var files = e.dataTransfer && e.dataTransfer.files;
      if (!files || !files.length) return;
      var one = new DataTransfer();
      one.items.add(files[0]);
      input.files = one.files;
      if (zone.hasAttribute('data-autosubmit') && input.form) input.form.requestSubmit();
    });
  });
})();
