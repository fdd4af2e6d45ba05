// Keyboard shortcuts and the in-page confirm step for reviewers. Pages work without this
// file: the verdict buttons then post at once and the server answers a confirm page.
// Every word shown comes from the page (data attributes rendered in the page's language).
(function () {
  "use strict";
  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }

  // Queue: j/k move the current row, Enter opens it.
  var rows = Array.prototype.slice.call(document.querySelectorAll("#queue tbody tr[data-href]"));
  var current = -1;
  function select(i) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, n) { r.classList.toggle("current", n === current); });
    var link = rows[current].querySelector("a");
    if (link) link.focus();
  }

  // Candidate or sighting: a verdict button, or c/r/u, shows the confirm step; its "Yes"
  // (Enter) posts the verdict with sure=yes, Cancel (Esc) hides it.
  var form = document.getElementById("decision-form");
  var step = document.getElementById("confirm-step");
  var yes = document.getElementById("confirm-yes");
  var no = document.getElementById("confirm-no");
  var text = document.getElementById("confirm-text");
  var chosen = document.getElementById("confirm-verdict");
  var ready = !!(form && step && yes && no && text && chosen);
  var VERDICTS = ["confirmed", "rejected", "unsure"];
  function ask(verdict) {
    if (!ready || VERDICTS.indexOf(verdict) < 0) return;
    chosen.value = verdict;
    chosen.disabled = false;
    text.textContent = step.getAttribute("data-" + verdict) || text.textContent;
    step.hidden = false;
    yes.focus();
  }
  function cancel() {
    if (!ready || step.hidden) return;
    step.hidden = true;
    chosen.value = "";
    chosen.disabled = true;
  }
  if (ready) {
    no.addEventListener("click", cancel);
    form.addEventListener("submit", function (e) {
      var by = e.submitter;
      if (!by) return;  // an old browser: the server asks instead
      if (by === yes) {
        if (!chosen.value) e.preventDefault();
        return;
      }
      if (by.name === "verdict") {  // a verdict button: ask first
        e.preventDefault();
        ask(by.value);
      }
    });
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") { cancel(); return; }
    if (typing(e)) return;
    if (ready && !step.hidden) return;  // while confirming, only Enter/Escape/Tab act
    var key = e.key;
    if (rows.length) {
      if (key === "j") { select(current + 1); e.preventDefault(); }
      else if (key === "k") { select(current - 1); e.preventDefault(); }
      return;
    }
    if (key === "j" || key === "k") {
      var link = document.getElementById(key === "j" ? "next" : "prev");
      if (link) { window.location.href = link.href; e.preventDefault(); }
    } else if (ready && (key === "c" || key === "r" || key === "u")) {
      ask({ c: "confirmed", r: "rejected", u: "unsure" }[key]);
      e.preventDefault();
    }
  });
})();
