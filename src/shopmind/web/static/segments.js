// shopmind dashboard: the segment builder (condition rows added with forms, a preview that counts
// again as they change) and the "show JSON" toggle of a segment's page.
(function () {
  "use strict";

  var DEBOUNCE_MS = 350;

  function csrf() {
    var meta = document.querySelector("meta[name='csrf-token']");
    return meta ? meta.getAttribute("content") : "";
  }

  function text(el, value) {
    el.textContent = value == null ? "" : String(value);
    return el;
  }

  function make(tag, cls, value) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    if (value != null) text(el, value);
    return el;
  }

  function jsonToggle(toggleId, preId, dataId) {
    var toggle = document.getElementById(toggleId);
    var pre = document.getElementById(preId);
    var data = dataId && document.getElementById(dataId);
    if (!toggle || !pre || !data) return;
    toggle.addEventListener("toggle", function () {
      if (toggle.open) pre.textContent = JSON.stringify(JSON.parse(data.textContent), null, 2);
    });
  }

  function builder() {
    var root = document.getElementById("builder");
    if (!root) return;
    var data = JSON.parse(document.getElementById("builder-data").textContent);
    var words = data.words;
    var fields = data.fields;
    var form = document.getElementById("builder-form");
    var list = document.getElementById("conditions");
    var noRows = document.getElementById("no-rows");
    var endpoint = root.getAttribute("data-preview");
    var preview = document.getElementById("preview");
    var count = document.getElementById("preview-count");
    var lastDefinition = null;
    var timer = null;
    var ticket = 0;
    var inFlight = null;

    // -- rows ---------------------------------------------------------------------------------
    function profileField(row) {
      var select = row.querySelector("[data-field='field']");
      var meta = fields[select.value];
      var kind = meta.type === "bool" ? "bool" : meta.type === "text" ? (meta.values.length ? "choice" : "text") : "range";
      ["bool", "choice", "text", "range"].forEach(function (k) {
        row.querySelector(".pf-" + k).hidden = k !== kind;
      });
      if (kind === "choice") {
        var choice = row.querySelector(".pf-choice select");
        var keep = choice.value;
        choice.innerHTML = "";
        meta.values.forEach(function (v) {
          var o = make("option", null, v[1]);
          o.value = v[0];
          choice.appendChild(o);
        });
        if (keep) choice.value = keep;
        if (!choice.value && meta.values.length) choice.value = meta.values[0][0];
      }
      if (kind === "text") {
        var input = row.querySelector(".pf-text input");
        if (meta.list) input.setAttribute("list", meta.list); else input.removeAttribute("list");
      }
      if (kind === "range") {
        row.querySelectorAll(".pf-range input").forEach(function (input) {
          input.type = meta.type === "date" ? "date" : "number";
          input.step = meta.type === "number" && meta.unit !== "₩" ? "any" : "1";
        });
        row.querySelectorAll(".pf-range .unit").forEach(function (u) {
          text(u, meta.type === "hour" ? root.getAttribute("data-hour-unit") || "" : meta.unit);
        });
      }
    }

    function addRow(kind, values) {
      var template = document.getElementById("row-" + kind);
      if (!template) return null;
      var row = template.content.firstElementChild.cloneNode(true);
      list.appendChild(row);
      if (kind === "profile") {
        var select = row.querySelector("[data-field='field']");
        if (values && values.field) select.value = values.field;
        profileField(row);
        select.addEventListener("change", function () { profileField(row); });
      }
      if (values) fill(row, values);
      row.querySelector(".remove").addEventListener("click", function () {
        row.remove();
        changed();
      });
      noRows.hidden = list.children.length > 0;
      return row;
    }

    function visibleFields(row) {
      return Array.prototype.filter.call(row.querySelectorAll("[data-field]"), function (el) {
        return !el.closest("[hidden]");
      });
    }

    function fill(row, values) {
      visibleFields(row).forEach(function (el) {
        var name = el.getAttribute("data-field");
        if (!(name in values)) return;
        if (el.type === "checkbox") el.checked = values[name] === true;
        else el.value = values[name] == null ? "" : String(values[name]);
      });
    }

    function state() {
      var out = { match: form.querySelector("input[name=match]:checked").value, conditions: [] };
      form.querySelectorAll("[data-name]").forEach(function (el) { out[el.getAttribute("data-name")] = el.value; });
      Array.prototype.forEach.call(list.children, function (row) {
        var values = { kind: row.getAttribute("data-kind") };
        visibleFields(row).forEach(function (el) {
          values[el.getAttribute("data-field")] = el.type === "checkbox" ? el.checked : el.value;
        });
        out.conditions.push(values);
      });
      return out;
    }

    function restore(saved) {
      ["name_ko", "name_en", "description_ko", "description_en"].forEach(function (name) {
        var el = form.querySelector("[data-name='" + name + "']");
        if (el && typeof saved[name] === "string") el.value = saved[name];
      });
      var match = form.querySelector("input[name=match][value='" + (saved.match === "any" ? "any" : "all") + "']");
      if (match) match.checked = true;
      (Array.isArray(saved.conditions) ? saved.conditions : []).forEach(function (values) {
        if (values && typeof values === "object") addRow(values.kind, values);
      });
    }

    // -- problems and warnings ------------------------------------------------------------------
    function clearMarks() {
      root.querySelectorAll(".field-error, .row-error, .row-warning").forEach(function (el) { el.textContent = ""; });
      root.querySelectorAll(".invalid").forEach(function (el) { el.classList.remove("invalid"); });
    }

    function place(row, field) {
      var scope = row == null ? form : list.children[row];
      if (!scope) return form.querySelector(".field-error[data-for='conditions']");
      var spot = Array.prototype.filter.call(scope.querySelectorAll(".field-error[data-for='" + field + "']"), function (el) {
        return !el.closest("[hidden]");
      })[0];
      if (spot) return spot;
      return row == null ? form.querySelector(".field-error[data-for='conditions']") : scope.querySelector(".row-error");
    }

    function showProblems(problems) {
      problems.forEach(function (p) {
        var spot = place(p.row, p.field);
        if (!spot) return;
        spot.textContent = spot.textContent ? spot.textContent + " " + p.message : p.message;
        var input = spot.parentNode && spot.parentNode.querySelector("[data-field], [data-name]");
        if (input) input.classList.add("invalid");
      });
    }

    function showWarnings(warnings) {
      warnings.forEach(function (w) {
        var row = w.row == null ? null : list.children[w.row];
        var spot = row ? row.querySelector(".row-warning") : null;
        if (!spot) return;
        var line = make("div", "warning");
        line.appendChild(make("span", null, w.message + " "));
        if (w.suggestions.length) {
          line.appendChild(make("span", null, words["sg.did_you_mean"] + " "));
          w.suggestions.forEach(function (s) {
            var button = make("button", "suggestion", s.label);
            button.type = "button";
            button.setAttribute("data-value", s.value);
            button.addEventListener("click", function () {
              var input = row.querySelector("[data-field='" + w.field + "']");
              if (input) {
                input.value = s.value;
                changed();
              }
            });
            line.appendChild(button);
          });
        }
        spot.appendChild(line);
      });
    }

    // -- the preview --------------------------------------------------------------------------
    function wordsList(node) {
      var ul = make("ul", "words");
      node.children.forEach(function (child) {
        var li = make("li", null, child.text);
        if (child.children.length) li.appendChild(wordsList(child));
        ul.appendChild(li);
      });
      return ul;
    }

    function render(answer) {
      var blocks = ["preview-words", "preview-segments", "preview-sample"];
      clearMarks();
      if (answer.problems) {
        text(count, "–");
        count.setAttribute("data-count", "");
        document.getElementById("preview-problem").hidden = false;
        document.getElementById("preview-as-of").textContent = "";
        blocks.forEach(function (id) { document.getElementById(id).hidden = true; });
        showProblems(answer.problems);
        return;
      }
      document.getElementById("preview-problem").hidden = true;
      text(count, answer.count_text);
      count.setAttribute("data-count", String(answer.count));
      text(document.getElementById("preview-as-of"), answer.as_of);
      var wordsBox = document.getElementById("preview-words-list");
      wordsBox.innerHTML = "";
      wordsBox.appendChild(make("p", "words-head", answer.words.text));
      wordsBox.appendChild(wordsList(answer.words));
      var rows = document.getElementById("preview-segments-rows");
      rows.innerHTML = "";
      answer.by_segment.forEach(function (s) {
        var tr = make("tr");
        tr.setAttribute("data-segment", s.key);
        tr.appendChild(make("td", null, s.name));
        var bar = make("td", "bar");
        var fill = make("span", "fill");
        fill.style.width = Math.max(1, Math.round(s.share * 100)) + "%";
        bar.appendChild(fill);
        tr.appendChild(bar);
        tr.appendChild(make("td", "num", s.customers.toLocaleString()));
        rows.appendChild(tr);
      });
      var sample = document.getElementById("preview-sample-rows");
      sample.innerHTML = "";
      answer.sample.forEach(function (c) {
        var tr = make("tr");
        var td = make("td");
        var a = make("a", "profile", c.shown);
        a.href = c.href;
        a.title = c.shown;
        td.appendChild(a);
        tr.appendChild(td);
        tr.appendChild(make("td", null, c.segment));
        tr.appendChild(make("td", "num", c.revenue));
        sample.appendChild(tr);
      });
      document.getElementById("preview-words").hidden = false;
      document.getElementById("preview-segments").hidden = answer.by_segment.length === 0;
      document.getElementById("preview-sample").hidden = answer.sample.length === 0;
      lastDefinition = answer.definition;
      var pre = document.getElementById("preview-json");
      if (document.getElementById("json-toggle").open) pre.textContent = JSON.stringify(lastDefinition, null, 2);
      showWarnings(answer.warnings);
    }

    function run() {
      var mine = ++ticket;
      if (inFlight) inFlight.abort();
      inFlight = window.AbortController ? new AbortController() : null;
      preview.setAttribute("data-busy", "1");
      if (!list.children.length) {
        preview.removeAttribute("data-busy");
        text(count, "–");
        count.setAttribute("data-count", "");
        return;
      }
      text(count, words["sg.counting"]);
      fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify(state()),
        signal: inFlight ? inFlight.signal : undefined
      })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (mine !== ticket) return; // a newer change is being counted
          render(answer);
          preview.removeAttribute("data-busy");
          preview.setAttribute("data-ticket", String(mine));
        })
        .catch(function (e) {
          if (e && e.name === "AbortError") return;
          if (mine !== ticket) return;
          text(count, words["sg.err.invalid"]);
          preview.removeAttribute("data-busy");
        });
    }

    function changed() {
      noRows.hidden = list.children.length > 0;
      preview.setAttribute("data-busy", "1"); // counting is due: the shown count is not the latest
      clearTimeout(timer);
      timer = setTimeout(run, DEBOUNCE_MS);
    }

    document.querySelectorAll("[data-add]").forEach(function (button) {
      button.addEventListener("click", function () {
        addRow(button.getAttribute("data-add"));
        changed();
      });
    });
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    form.addEventListener("submit", function () {
      document.getElementById("builder-state").value = JSON.stringify(state());
    });
    document.getElementById("json-toggle").addEventListener("toggle", function () {
      if (this.open && lastDefinition) {
        document.getElementById("preview-json").textContent = JSON.stringify(lastDefinition, null, 2);
      }
    });

    if (data.state) restore(data.state);
    noRows.hidden = list.children.length > 0;
    if (data.problems && data.problems.length) showProblems(data.problems);
    else if (list.children.length) run();
  }

  document.addEventListener("DOMContentLoaded", function () {
    builder();
    jsonToggle("json-toggle", "definition-json", "definition-data");
  });
})();
