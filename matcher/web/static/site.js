// Keyboard shortcuts for reviewers. Pages work without this file; it only adds keys.
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

  // Candidate: c/r/u choose a verdict and show a confirm step; Enter records, Esc cancels.
  var form = document.getElementById("decision-form");
  var step = document.getElementById("confirm-step");
  var yes = document.getElementById("confirm-yes");
  var no = document.getElementById("confirm-no");
  var text = document.getElementById("confirm-text");
  var words = { confirmed: "Confirm this match (refer it for verification)?", rejected: "Reject this candidate?", unsure: "Mark as unsure (escalate)?" };
  function ask(verdict) {
    if (!form || !step) return;
    yes.value = verdict;
    text.textContent = words[verdict];
    step.hidden = false;
    yes.focus();
  }
  function cancel() {
    if (step) { step.hidden = true; yes.value = ""; }
  }
  if (no) no.addEventListener("click", cancel);
  if (form) form.addEventListener("submit", function (e) {
    var by = e.submitter;
    if (by === yes && !yes.value) e.preventDefault();
  });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") { cancel(); return; }
    if (typing(e)) return;
    if (step && !step.hidden) return;  // while confirming, only Enter/Escape/Tab act
    var key = e.key;
    if (rows.length) {
      if (key === "j") { select(current + 1); e.preventDefault(); }
      else if (key === "k") { select(current - 1); e.preventDefault(); }
      return;
    }
    if (key === "j" || key === "k") {
      var link = document.getElementById(key === "j" ? "next" : "prev");
      if (link) { window.location.href = link.href; e.preventDefault(); }
    } else if (form && (key === "c" || key === "r" || key === "u")) {
      ask({ c: "confirmed", r: "rejected", u: "unsure" }[key]);
      e.preventDefault();
    }
  });
})();
