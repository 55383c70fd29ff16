// The decision page's keys: a approves the recommended price, o starts an override
// (price, then reason; Enter submits), Esc leaves a field.
(function () {
  "use strict";
  const approve = document.getElementById("approve-form");
  const price = document.getElementById("override-price");
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const typing = event.target.matches("input, textarea");
    if (event.key === "Escape" && typing) { event.target.blur(); return; }
    if (typing) return;
    if (event.key === "a" && approve) { event.preventDefault(); approve.requestSubmit(); }
    else if (event.key === "o" && price) { event.preventDefault(); price.focus(); price.select(); }
  });
  if (document.getElementById("refused") && price) price.focus();
})();
