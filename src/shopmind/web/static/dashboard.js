// shopmind dashboard: draws the charts whose data the page carries, and the audience picker.
(function () {
  "use strict";

  function draw() {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-chart"));
      var fig = JSON.parse(source.textContent);
      Plotly.newPlot(el, fig.data, fig.layout, { responsive: true, displaylogo: false });
    });
  }

  // every POST carries the session's CSRF token (the page's meta tag)
  function csrf() {
    var meta = document.querySelector("meta[name='csrf-token']");
    return meta ? meta.getAttribute("content") : "";
  }

  function audience() {
    var box = document.getElementById("audience");
    if (!box) return;
    var endpoint = box.getAttribute("data-endpoint");
    var score = box.getAttribute("data-score");
    var low = document.getElementById("band-low");
    var high = document.getElementById("band-high");
    var count = document.getElementById("band-count");
    var expected = document.getElementById("band-expected");
    var exportLink = document.getElementById("export-csv");
    var result = document.getElementById("save-result");
    var pending = 0;

    function range() {
      var a = Math.max(0, Math.min(100, Number(low.value) || 0)) / 100;
      var b = Math.max(0, Math.min(100, Number(high.value) || 0)) / 100;
      return a <= b ? [a, b] : [b, a];
    }
    function query() {
      var r = range();
      return "score=" + score + "&low=" + r[0].toFixed(4) + "&high=" + r[1].toFixed(4);
    }
    function update() {
      var ticket = ++pending;
      if (exportLink) exportLink.href = endpoint + "/audience.csv?" + query();
      box.setAttribute("data-busy", "1");
      fetch(endpoint + "/audience?" + query(), { headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (found) {
          if (ticket !== pending) return; // an older answer arriving late
          count.textContent = found.profiles.toLocaleString();
          expected.textContent = found.expected.toLocaleString(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
          box.removeAttribute("data-busy");
        });
    }
    low.addEventListener("input", update);
    high.addEventListener("input", update);

    var chart = document.getElementById("purchase");
    if (chart && chart.on) {
      chart.on("plotly_click", function (event) {
        var band = event.points[0].customdata;
        low.value = Math.round(band[0] * 100);
        high.value = Math.round(band[1] * 100);
        update();
      });
    }

    var saveForm = document.getElementById("save-form");
    if (!saveForm) return; // a viewer: neither saves nor exports
    saveForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var r = range();
      var name = document.getElementById("audience-name").value.trim();
      fetch(endpoint + "/audiences", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ name: name, low: r[0], high: r[1], score: score })
      })
        .then(function (resp) { return resp.json().then(function (body) { return [resp.status, body]; }); })
        .then(function (answer) {
          result.textContent = answer[0] === 201
            ? result.getAttribute("data-saved") + ": " + answer[1].name + " (" + answer[1].size.toLocaleString() + ")"
            : (answer[1].message || "error");
          result.setAttribute("data-size", answer[0] === 201 ? String(answer[1].size) : "");
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw();
    audience();
    document.body.setAttribute("data-ready", "1");
  });
})();
