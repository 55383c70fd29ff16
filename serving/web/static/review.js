// The review page's keys: 1/2/3 or a/b/c grade, f counterfeit, Enter resolve and open the
// next case, j/k next/previous, h heat maps, n note, ? the list of keys, Esc closes.
(function () {
  "use strict";
  const form = document.getElementById("decide");
  const grades = { "1": "A", "2": "B", "3": "C", a: "A", b: "B", c: "C" };
  const keys = document.getElementById("keys");
  const heatButton = document.getElementById("heat-toggle");

  function pick(grade) {
    const radio = document.getElementById("grade-" + grade);
    if (radio) radio.checked = true;
  }
  function go(id) {
    const link = document.getElementById(id);
    if (link) window.location.assign(link.href);
  }
  const modes = ["off", "damage", "counterfeit"];
  function toggleHeat() {
    // off -> damage -> counterfeit -> off; maps load on first use, per kind
    const mode = modes[(modes.indexOf(heatButton.dataset.mode) + 1) % modes.length];
    heatButton.dataset.mode = mode;
    heatButton.setAttribute("aria-pressed", String(mode !== "off"));
    document.getElementById("heat-mode").textContent = mode;
    const help = document.getElementById("heat-help");
    if (help.dataset[mode]) help.textContent = help.dataset[mode];
    document.querySelectorAll("img.heat").forEach(function (img) {
      if (mode !== "off") img.setAttribute("src", img.dataset.src + "?kind=" + mode);
      img.hidden = mode === "off";
    });
  }
  function unzoom() {
    document.querySelectorAll(".photo.zoomed").forEach(function (f) { f.classList.remove("zoomed"); });
  }
  heatButton.addEventListener("click", toggleHeat);
  document.getElementById("keys-button").addEventListener("click", function () { keys.showModal(); });
  document.querySelectorAll(".photo img.shot").forEach(function (img) {
    img.addEventListener("click", function () {
      const figure = img.closest(".photo");
      const was = figure.classList.contains("zoomed");
      unzoom();
      if (!was) figure.classList.add("zoomed");
    });
  });
  if (form) {
    form.addEventListener("submit", function (event) {
      if (!form.querySelector("input[name=grade]:checked")) {
        event.preventDefault();
        alertOnce("Pick a grade first: 1/2/3 or a/b/c.");
      }
    });
  }
  function alertOnce(text) {
    let box = document.getElementById("key-alert");
    if (!box) {
      box = document.createElement("p");
      box.id = "key-alert";
      box.className = "alert";
      box.setAttribute("role", "alert");
      form.prepend(box);
    }
    box.textContent = text;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const typing = event.target.matches("input[type=text], input[type=number], textarea");
    const key = event.key;
    if (key === "Escape") { unzoom(); if (typing) event.target.blur(); return; }
    if (typing && key !== "Enter") return;
    if (keys.open && key !== "?") return;
    if (form && key in grades) { pick(grades[key]); event.preventDefault(); }
    else if (form && key === "f") { const box = document.getElementById("counterfeit"); box.checked = !box.checked; event.preventDefault(); }
    else if (form && key === "Enter") { event.preventDefault(); form.requestSubmit(); }
    else if (form && key === "n") { event.preventDefault(); document.getElementById("note").focus(); }
    else if (key === "j") go("next");
    else if (key === "k") go("prev");
    else if (key === "h") toggleHeat();
    else if (key === "?") { if (keys.open) keys.close(); else keys.showModal(); }
  });
})();
