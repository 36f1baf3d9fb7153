// corpsim view: client-side filters and, in an exported file, page switching.
// Served from the package (no CDN); inlined in exports.
(function () {
  "use strict";
  var ROW_H = 18, TOP = 26;

  function relayout(svg) {
    var y = 0;
    svg.querySelectorAll("g.chart-row").forEach(function (g) {
      if (g.style.display === "none") return;
      g.setAttribute("transform", "translate(0," + (TOP + ROW_H * y + ROW_H / 2) + ")");
      y += 1;
    });
    var h = TOP + ROW_H * y + 8;
    svg.setAttribute("height", h);
    var vb = svg.getAttribute("viewBox").split(" ");
    vb[3] = String(h);
    svg.setAttribute("viewBox", vb.join(" "));
  }

  function applySweep(view) {
    var outcome = view.querySelector('[data-role="outcome"]').value;
    var status = view.querySelector('[data-role="status"]').value;
    var axes = Array.prototype.map.call(view.querySelectorAll('[data-role="axis"]'), function (s) {
      return [s.getAttribute("data-axis"), s.value];
    });
    view.querySelectorAll(".outcome-block").forEach(function (b) {
      b.hidden = b.getAttribute("data-outcome") !== outcome;
    });
    var shown = 0, total = 0;
    view.querySelectorAll(".outcome-block").forEach(function (b) {
      var visible = !b.hidden;
      b.querySelectorAll("tr.rate-row, g.chart-row").forEach(function (el) {
        var ok = (!status || (" " + el.getAttribute("data-statuses") + " ").indexOf(" " + status + " ") >= 0) &&
          axes.every(function (a) { return !a[1] || el.getAttribute("data-" + a[0]) === a[1]; });
        el.style.display = ok ? "" : "none";
        if (visible && el.tagName.toLowerCase() === "tr") { total += 1; if (ok) shown += 1; }
      });
      b.querySelectorAll("svg.forest").forEach(relayout);
    });
    var note = view.querySelector(".shown");
    if (note) note.textContent = shown + " of " + total + " rows";
  }

  function applyCell(view) {
    var status = view.querySelector('[data-role="ep-status"]').value;
    var harm = view.querySelector('[data-role="ep-harm"]').value;
    var shown = 0, total = 0;
    view.querySelectorAll("tr.ep-row").forEach(function (tr) {
      var ok = (!status || tr.getAttribute("data-status") === status) &&
        (!harm || (" " + tr.getAttribute("data-harms")).indexOf(" " + harm + " ") >= 0);
      tr.style.display = ok ? "" : "none";
      total += 1; if (ok) shown += 1;
    });
    var note = view.querySelector(".shown");
    if (note) note.textContent = shown + " of " + total + " episodes";
  }

  function wire() {
    document.querySelectorAll(".sweep-view").forEach(function (v) {
      v.querySelectorAll("select").forEach(function (s) { s.addEventListener("change", function () { applySweep(v); }); });
      applySweep(v);
    });
    document.querySelectorAll(".cell-view").forEach(function (v) {
      v.querySelectorAll("select").forEach(function (s) { s.addEventListener("change", function () { applyCell(v); }); });
      applyCell(v);
    });
  }

  // exported file: every page is a <section class="page">; the URL hash picks one
  function showPage() {
    var pages = document.querySelectorAll("section.page");
    if (!pages.length) return;
    var id = (location.hash || "").slice(1), target = null, step = null;
    if (id) {
      var el = document.getElementById(id);
      if (el && el.classList.contains("page")) target = el;
      else if (el) { target = el.closest("section.page"); step = el; }
    }
    target = target || pages[0];
    pages.forEach(function (p) { p.classList.toggle("active", p === target); });
    (step || target).scrollIntoView();
  }

  document.addEventListener("DOMContentLoaded", function () {
    wire();
    showPage();
    window.addEventListener("hashchange", showPage);
  });
})();
