// shopmind dashboard: the campaign form (steps with a message per channel) and its live preview,
// which writes each message for a sample customer as it will go out.
(function () {
  "use strict";

  var DEBOUNCE_MS = 400;

  function csrf() {
    var meta = document.querySelector("meta[name='csrf-token']");
    return meta ? meta.getAttribute("content") : "";
  }

  function make(tag, cls, value) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    if (value != null) el.textContent = String(value);
    return el;
  }

  function builder() {
    var root = document.getElementById("campaign-builder");
    if (!root) return;
    var data = JSON.parse(document.getElementById("campaign-data").textContent);
    var words = data.words;
    var form = document.getElementById("campaign-form");
    var steps = document.getElementById("steps");
    var template = document.getElementById("step-template");
    var endpoint = root.getAttribute("data-preview");
    var preview = document.getElementById("campaign-preview");
    var count = document.getElementById("audience-count");
    var sample = document.getElementById("sample");
    var timer = null;
    var ticket = 0;

    function value(id) {
      var el = document.getElementById(id);
      return el ? el.value : "";
    }
    function checked(name) {
      return Array.prototype.map.call(document.querySelectorAll("input[name='" + name + "']:checked"), function (el) { return el.value; });
    }
    function radio(name) {
      var el = document.querySelector("input[name='" + name + "']:checked");
      return el ? el.value : "";
    }

    // -- steps ----------------------------------------------------------------------------------
    function number() {
      Array.prototype.forEach.call(steps.children, function (li, i) {
        li.querySelector(".step-title").textContent = words["cp.step"].replace("{n}", i + 1);
        li.querySelectorAll(".later").forEach(function (el) { el.hidden = i === 0; });
        li.querySelector(".remove").hidden = steps.children.length === 1;
        li.setAttribute("data-index", String(i));
      });
    }
    function addStep(state) {
      var li = template.content.firstElementChild.cloneNode(true);
      li.querySelectorAll("[data-use]").forEach(function (box) {
        var body = box.closest("fieldset").querySelector(".channel-body");
        box.addEventListener("change", function () { body.hidden = !box.checked; schedule(); });
      });
      li.querySelector(".remove").addEventListener("click", function () { li.remove(); number(); schedule(); });
      steps.appendChild(li);
      if (state) fillStep(li, state);
      number();
      return li;
    }
    function fillStep(li, state) {
      ["kind", "wait_hours", "when", "coupon"].forEach(function (k) {
        if (state[k] != null) li.querySelector("[data-s='" + k + "']").value = state[k];
      });
      var messages = state.messages || {};
      li.querySelectorAll("fieldset.channel").forEach(function (fs) {
        var channel = fs.getAttribute("data-channel");
        var box = fs.querySelector("[data-use]");
        box.checked = channel in messages;
        fs.querySelector(".channel-body").hidden = !box.checked;
        if (box.checked) {
          fs.querySelectorAll("[data-m]").forEach(function (el) {
            var v = messages[channel][el.getAttribute("data-m")];
            if (v != null) el.value = v;
          });
        }
      });
    }
    function stepState(li) {
      var out = { messages: {} };
      ["kind", "wait_hours", "when", "coupon"].forEach(function (k) { out[k] = li.querySelector("[data-s='" + k + "']").value; });
      li.querySelectorAll("fieldset.channel").forEach(function (fs) {
        if (!fs.querySelector("[data-use]").checked) return;
        var m = {};
        fs.querySelectorAll("[data-m]").forEach(function (el) { m[el.getAttribute("data-m")] = el.value; });
        out.messages[fs.getAttribute("data-channel")] = m;
      });
      return out;
    }

    // -- the whole form -------------------------------------------------------------------------
    function state() {
      var kind = radio("audience-kind");
      var audience = { kind: kind };
      if (kind === "segment") audience.segment = value("aud-saved");
      if (kind === "rfm") audience.segments = checked("aud-rfm");
      if (kind === "band") { audience.score = value("aud-score"); audience.low = value("aud-low"); audience.high = value("aud-high"); }
      if (kind === "moved") { audience.from = checked("aud-from"); audience.to = checked("aud-to"); audience.within_days = value("aud-within"); }
      return {
        name: value("campaign-name"),
        locale: value("campaign-locale"),
        audience: audience,
        steps: Array.prototype.map.call(steps.children, stepState),
        channel_mode: radio("channel-mode"),
        channels: checked("policy-channel"),
        send_mode: radio("send-mode"),
        hour: value("send-hour"),
        per_day: value("per-day"),
        per_week: value("per-week"),
        holdout: value("holdout"),
        attribution_days: value("attribution"),
        start_at: value("start-at"),
        sample: sample.value || null
      };
    }
    function restore(s) {
      if (!s) return false;
      var set = function (id, v) { var el = document.getElementById(id); if (el && v != null) el.value = v; };
      set("campaign-name", s.name); set("campaign-locale", s.locale);
      var a = s.audience || {};
      var r = document.querySelector("input[name='audience-kind'][value='" + a.kind + "']");
      if (r) r.checked = true;
      var tick = function (name, values) {
        document.querySelectorAll("input[name='" + name + "']").forEach(function (el) { el.checked = (values || []).indexOf(el.value) >= 0; });
      };
      if (a.kind === "rfm") tick("aud-rfm", a.segments);
      if (a.kind === "moved") { tick("aud-from", a.from); tick("aud-to", a.to); set("aud-within", a.within_days); }
      if (a.kind === "band") { set("aud-score", a.score); set("aud-low", a.low); set("aud-high", a.high); }
      if (a.kind === "segment") set("aud-saved", a.segment);
      (s.steps || []).forEach(function (st) { addStep(st); });
      ["channel-mode", "send-mode"].forEach(function (name) {
        var v = s[name === "channel-mode" ? "channel_mode" : "send_mode"];
        var el = document.querySelector("input[name='" + name + "'][value='" + v + "']");
        if (el) el.checked = true;
      });
      if (s.channels) tick("policy-channel", s.channels);
      set("send-hour", s.hour); set("per-day", s.per_day); set("per-week", s.per_week);
      set("holdout", s.holdout); set("attribution", s.attribution_days); set("start-at", s.start_at);
      return (s.steps || []).length > 0;
    }
    function showAudience() {
      var kind = radio("audience-kind");
      document.querySelectorAll(".aud").forEach(function (el) { el.hidden = el.getAttribute("data-aud") !== kind; });
    }

    // -- problems next to their fields ----------------------------------------------------------
    function clearProblems() {
      form.querySelectorAll(".field-error").forEach(function (el) { el.textContent = ""; });
      form.querySelectorAll(".invalid").forEach(function (el) { el.classList.remove("invalid"); });
    }
    function showProblems(problems) {
      clearProblems();
      (problems || []).forEach(function (p) {
        var target = null;
        var m = /^steps\[(\d+)\](.*)$/.exec(p.field);
        if (m && steps.children[Number(m[1])]) {
          var li = steps.children[Number(m[1])];
          var rest = m[2];
          while (rest && !target) {
            target = li.querySelector(".field-error[data-for='" + rest + "']");
            rest = rest.replace(/\.[^.]*$/, "");
          }
          if (!target) target = li.querySelector(".field-error[data-for='.messages']");
        } else {
          var field = p.field;
          while (field && !target) {
            target = form.querySelector(".field-error[data-for='" + field + "']");
            field = field.indexOf(".") >= 0 ? field.replace(/\.[^.]*$/, "") : "";
          }
          if (!target) target = form.querySelector(".field-error[data-for='form']");
        }
        if (target.textContent) target.textContent += " ";
        target.textContent += p.message;
        var input = target.parentElement && target.parentElement.querySelector("input, textarea, select");
        if (input) input.classList.add("invalid");
      });
      document.getElementById("preview-problem").hidden = !(problems && problems.length);
    }

    // -- the preview ----------------------------------------------------------------------------
    function render(answer) {
      var list = document.getElementById("preview-messages");
      list.innerHTML = "";
      if (answer.count != null) {
        count.textContent = answer.count_text;
        count.setAttribute("data-count", String(answer.count));
        document.getElementById("audience-split").textContent = answer.split_text;
      }
      var box = document.getElementById("sample-box");
      if (answer.samples) {
        box.hidden = !answer.samples.length;
        var keep = answer.sample ? answer.sample.id : "";
        sample.innerHTML = "";
        answer.samples.forEach(function (c) {
          var o = make("option", null, c.shown);
          o.value = c.id;
          sample.appendChild(o);
        });
        sample.value = keep;
        if (answer.sample) document.getElementById("sample-link").href = answer.sample.href;
        if (!answer.samples.length) list.appendChild(make("p", "empty", words["cp.no_sample"]));
      }
      (answer.messages || []).forEach(function (msg) {
        var card = make("div", "message");
        card.setAttribute("data-step", String(msg.step));
        card.setAttribute("data-channel", msg.channel);
        card.setAttribute("data-format", msg.format);
        card.setAttribute("data-bytes", String(msg.bytes));
        var head = make("div", "message-head");
        head.appendChild(make("strong", null, words["cp.step"].replace("{n}", msg.step + 1) + " · " + msg.channel_name));
        head.appendChild(make("span", "tag format", msg.format_name));
        head.appendChild(make("span", "tag size", msg.size));
        card.appendChild(head);
        if (msg.subject) card.appendChild(make("div", "message-subject", msg.subject));
        card.appendChild(make("pre", "message-text", msg.text));
        if (msg.unsendable) card.appendChild(make("p", "error", msg.unsendable));
        if (msg.violations.length) {
          msg.violations.forEach(function (v) { card.appendChild(make("p", "error violation", v)); });
        } else {
          card.appendChild(make("p", "done lawful", words["cp.no_problem"]));
        }
        if (msg.coupon_note) card.appendChild(make("p", "note", msg.coupon_note));
        list.appendChild(card);
      });
    }
    function run() {
      var mine = ++ticket;
      preview.setAttribute("data-busy", "1");
      fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify(state())
      })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (mine !== ticket) return; // an older answer arriving late
          showProblems(answer.problems);
          render(answer);
          preview.removeAttribute("data-busy");
          preview.setAttribute("data-done", String(mine));
        });
    }
    function schedule() {
      clearTimeout(timer);
      preview.setAttribute("data-busy", "1");
      timer = setTimeout(run, DEBOUNCE_MS);
    }

    form.addEventListener("input", schedule);
    form.addEventListener("change", function (e) {
      if (e.target.name === "audience-kind") showAudience();
      schedule();
    });
    sample.addEventListener("change", schedule);
    document.getElementById("add-step").addEventListener("click", function () { addStep(null); schedule(); });
    form.addEventListener("submit", function () {
      document.getElementById("campaign-state").value = JSON.stringify(state());
    });
    if (!restore(data.state)) addStep(null);
    showAudience();
    if (data.problems && data.problems.length) showProblems(data.problems);
    run();
  }

  document.addEventListener("DOMContentLoaded", builder);
})();
