// Progressive enhancement only: every page works without this file.
// Copy buttons: <button data-copy="text"> and <button data-copy-all="selector">.
(function () {
  function copy(text, button) {
    if (!navigator.clipboard) { return; }
    navigator.clipboard.writeText(text).then(function () {
      var old = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = old; }, 1500);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy], [data-copy-all]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        if (b.dataset.copyAll) {
          var all = Array.prototype.map.call(
            document.querySelectorAll(b.dataset.copyAll),
            function (e) { return e.dataset.copy; });
          copy(all.join("\n"), b);
        } else {
          copy(b.dataset.copy, b);
        }
      });
    });
  });
})();
