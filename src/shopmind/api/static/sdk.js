/*! shopmind.js — the shopmind tracker and on-site renderer.
 *
 * <script src="https://YOUR-SHOPMIND/sdk.js" data-write-key="sm_w_..." defer></script>
 *
 *   shopmind.track("Product Added", {product_id: "P1", price: 12900, quantity: 1})
 *   shopmind.page()                        // sent automatically on load (data-auto-page="false" turns it off)
 *   shopmind.identify("member-42", {grade: "gold"}, {signature: "<HMAC from your server>"})
 *   shopmind.decide("top")                 // ask for the action of a placement and render it
 *   shopmind.consent({channel: "sms", granted: false})   // the visitor withdraws advertising consent
 *   shopmind.consent({channel: "email", granted: true, textVersion: "2024-01"})  // needs a signed member
 *   shopmind.subscribePush()               // ask for browser notifications; hands the subscription to shopmind
 *   shopmind.unsubscribePush()             // stop them (the subscription is revoked at shopmind too)
 *
 * It detects exit intent (the pointer leaving through the top of the window) and scroll depth
 * (25/50/75/100%), asks /v1/decide for the "popup" placement on exit intent and for each element
 * with data-shopmind-placement="…" on load, renders the popup / slide-in / banner /
 * recommendation widget, and reports its outcomes (shown, clicked, dismissed). Events are sent
 * in order, one request at a time, so the server sees them as they happened.
 * Links of the actions that start with "/" get data-link-base="/shop" in front when set.
 * The page's type comes from <meta name="shopmind:page-type" content="cart"> (else the URL), a
 * category page's category from <meta name="shopmind:category" content="…">.
 * Personal on-site content (a VIP's picks) needs the member's identity signature: your server
 * computes HMAC-SHA256(identity secret, member id) in hex (`shopmind keys identity-secret`) and
 * passes it to identify(); without it the visitor is answered as an anonymous one.
 * Advertising consent (정보통신망법 §50): consent({channel, granted, night, textVersion}) records it at
 * /v1/consent; channel is email, sms, kakao, app_push or web_push, night: true the 21:00-08:00
 * consent. The write key is public, so a grant is taken only for a member identified with their
 * signature; a withdrawal is always taken (for the signed member, else for this device's visitor).
 * The returned promise rejects with the server's error (e.g. a grant without a signature).
 * Web push: subscribePush({serviceWorker, scope}) registers the service worker (default: /push-sw.js
 * when shopmind serves this page's origin, else /shopmind-sw.js, a file on the shop's own site holding
 * importScripts("https://YOUR-SHOPMIND/push-sw.js")), subscribes with the shop's VAPID key
 * (GET /v1/push/vapid-key) — the browser asks the visitor — and sends the subscription to
 * /v1/push-subscriptions for the signed member, else this device's visitor. Sending advertising by
 * push still needs the visitor's consent on web_push (consent()).
 */
(function (w, d) {
  "use strict";
  if (w.shopmind && w.shopmind.version) return;
  var script = d.currentScript || d.querySelector("script[data-write-key]");
  var cfg = script ? script.dataset : {};
  var host = (cfg.host || (script && script.src ? new URL(script.src, w.location.href).origin : "")).replace(/\/$/, "");
  var writeKey = cfg.writeKey || "";
  var store = safeStorage();
  var queue = Promise.resolve();
  var pageStarted = Date.now();
  var exitSent = false;
  var depths = {};
  var listeners = [];

  function safeStorage() {
    try { w.localStorage.setItem("shopmind:test", "1"); return w.localStorage; }
    catch (e) { var m = {}; return { getItem: function (k) { return m[k] || null; }, setItem: function (k, v) { m[k] = String(v); }, removeItem: function (k) { delete m[k]; } }; }
  }
  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = (Math.random() * 16) | 0; return (c === "x" ? r : (r & 3) | 8).toString(16);
    });
  }
  function anonymousId() {
    var id = store.getItem("shopmind:anonymousId");
    if (!id) { id = uuid(); store.setItem("shopmind:anonymousId", id); }
    return id;
  }
  function userId() { return store.getItem("shopmind:userId"); }
  function meta(name) {
    var m = d.querySelector('meta[name="shopmind:' + name + '"]');
    return m ? m.getAttribute("content") : undefined;
  }
  function pageType() { return meta("page-type"); }
  function deviceType() {
    var ua = navigator.userAgent || "";
    if (/iPad|Tablet/i.test(ua)) return "tablet";
    if (/Mobi|Android|iPhone/i.test(ua)) return "mobile";
    return "desktop";
  }
  function context() {
    var ctx = {
      channel: "web",
      locale: navigator.language,
      device: { type: deviceType() },
      page: { url: w.location.href, referrer: d.referrer || undefined },
      library: { name: "shopmind.js", version: "1" }
    };
    if (cfg.region) ctx.location = { region: cfg.region };
    return ctx;
  }
  function headers() {
    return { "Content-Type": "application/json", "Authorization": "Bearer " + writeKey };
  }
  function post(path, body) {
    return fetch(host + path, { method: "POST", headers: headers(), body: JSON.stringify(body), keepalive: true })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (j) { if (!r.ok) throw j; return j; }); });
  }
  function enqueue(path, message) {
    message.messageId = message.messageId || uuid();
    message.anonymousId = anonymousId();
    var uid = userId();
    if (uid) message.userId = uid;
    message.timestamp = new Date().toISOString();
    message.context = Object.assign(context(), message.context || {});
    var sent = queue.then(function () {
      message.sentAt = new Date().toISOString();
      return post(path, message);
    });
    queue = sent.catch(function (e) { if (w.console) w.console.warn("shopmind: not sent", e); });
    return sent;
  }
  function track(event, properties) {
    return enqueue("/v1/track", { type: "track", event: event, properties: properties || {} });
  }
  function page(name, properties) {
    var props = Object.assign({ path: w.location.pathname, title: d.title }, properties || {});
    var type = pageType();
    if (type && !props.page_type) props.page_type = type;
    if (meta("category") && !props.category) props.category = meta("category");
    return enqueue("/v1/page", { type: "page", name: name || d.title, properties: props });
  }
  function identify(id, traits, options) {
    store.setItem("shopmind:userId", String(id));
    if (options && options.signature) store.setItem("shopmind:userSignature", String(options.signature));
    else store.removeItem("shopmind:userSignature");
    return enqueue("/v1/identify", { type: "identify", userId: String(id), traits: traits || {} });
  }
  function consent(options) {
    var o = options || {};
    var body = { channel: o.channel, granted: o.granted, purpose: o.night ? "night_advertising" : "advertising",
      entryId: uuid(), anonymousId: anonymousId() };
    if (o.textVersion) body.textVersion = String(o.textVersion);
    var uid = userId();
    if (uid) {
      body.userId = uid;
      var signature = store.getItem("shopmind:userSignature");
      if (signature) body.userSignature = signature;
    }
    var sent = queue.then(function () { return post("/v1/consent", body); });
    queue = sent.catch(function (e) { if (w.console) w.console.warn("shopmind: consent not recorded", e); });
    return sent;
  }
  // -- web push ----------------------------------------------------------------------------
  function keyBytes(text) {
    var b64 = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = w.atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function sameKey(subscription, key) {
    var had = subscription.options && subscription.options.applicationServerKey;
    if (!had) return false;
    var a = new Uint8Array(had), b = keyBytes(key);
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  function active(registration) {  // subscribing needs an active service worker
    if (registration.active) return Promise.resolve(registration);
    var worker = registration.installing || registration.waiting;
    return new Promise(function (resolve) {
      worker.addEventListener("statechange", function () { if (worker.state === "activated") resolve(registration); });
    });
  }
  function workerUrl(o) {
    if (o.serviceWorker) return o.serviceWorker;
    return host === w.location.origin ? host + "/push-sw.js" : "/shopmind-sw.js";
  }
  function subscribePush(options) {
    var o = options || {};
    if (!navigator.serviceWorker || !w.PushManager) return Promise.reject(new Error("shopmind: this browser has no web push"));
    var key;
    var sent = queue.then(function () {
      return fetch(host + "/v1/push/vapid-key", { headers: headers() })
        .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw j; return j; }); });
    }).then(function (answer) {
      key = answer.publicKey;
      return navigator.serviceWorker.register(workerUrl(o), o.scope ? { scope: o.scope } : undefined);
    }).then(active).then(function (registration) {
      return registration.pushManager.getSubscription().then(function (had) {
        if (had && sameKey(had, key)) return had;
        var fresh = function () {
          return registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
        };
        return had ? had.unsubscribe().then(fresh) : fresh();
      });
    }).then(function (subscription) {
      var body = { kind: "web", subscription: subscription.toJSON(), anonymousId: anonymousId() };
      var uid = userId();
      if (uid) {
        var signature = store.getItem("shopmind:userSignature");
        if (signature) { body.userId = uid; body.userSignature = signature; }
      }
      return post("/v1/push-subscriptions", body);
    });
    queue = sent.catch(function (e) { if (w.console) w.console.warn("shopmind: push not subscribed", e); });
    return sent;
  }
  function unsubscribePush(options) {
    var o = options || {};
    if (!navigator.serviceWorker) return Promise.resolve({ revoked: 0 });
    return navigator.serviceWorker.getRegistration(o.scope || workerUrl(o)).then(function (registration) {
      return registration ? registration.pushManager.getSubscription() : null;
    }).then(function (subscription) {
      if (!subscription) return { revoked: 0 };
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () {
        return fetch(host + "/v1/push-subscriptions?endpoint=" + encodeURIComponent(endpoint),
          { method: "DELETE", headers: headers() }).then(function (r) { return r.json(); });
      });
    });
  }
  function reset() {
    store.removeItem("shopmind:userId"); store.removeItem("shopmind:userSignature"); store.removeItem("shopmind:anonymousId");
  }

  // -- decisions and their rendering ------------------------------------------------------
  function decide(placement, slot) {
    return queue.then(function () {
      var q = "?anonymousId=" + encodeURIComponent(anonymousId()) + "&placement=" + encodeURIComponent(placement);
      var uid = userId();
      if (uid) q += "&userId=" + encodeURIComponent(uid);
      var signature = store.getItem("shopmind:userSignature");
      if (uid && signature) q += "&userSignature=" + encodeURIComponent(signature);
      return fetch(host + "/v1/decide" + q, { headers: headers() }).then(function (r) { return r.json(); });
    }).then(function (decision) {
      if (decision && decision.action) render(decision, slot);
      return decision;
    });
  }
  function outcome(decision, what) {
    return post("/v1/decisions/" + encodeURIComponent(decision.decision_id) + "/outcome", { outcome: what })
      .then(function (r) { notify("outcome", { decision: decision, outcome: what }); return r; });
  }
  function link(href) {  // data-link-base="/shop" when the shop does not live at the site's root
    return href && href.charAt(0) === "/" && cfg.linkBase ? cfg.linkBase.replace(/\/$/, "") + href : href;
  }
  function el(tag, cls, text) {
    var e = d.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }
  var STYLE = [
    ".shopmind-overlay{position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;z-index:2147483000}",
    ".shopmind-box{background:#fff;color:#222;border-radius:12px;padding:24px 28px;max-width:380px;font:15px/1.5 'Noto Sans KR',system-ui,sans-serif;box-shadow:0 8px 30px rgba(0,0,0,.25);position:relative}",
    ".shopmind-slide{position:fixed;right:20px;bottom:20px;z-index:2147483000}",
    ".shopmind-banner{display:flex;gap:12px;align-items:center;justify-content:center;padding:10px 16px;background:#1f4fd8;color:#fff;font:15px/1.4 'Noto Sans KR',system-ui,sans-serif}",
    ".shopmind-title{font-weight:700;font-size:18px;margin:0 0 8px}",
    ".shopmind-coupon{display:inline-block;border:2px dashed #1f4fd8;padding:4px 10px;margin:8px 0;font-weight:700;letter-spacing:1px}",
    ".shopmind-button{display:inline-block;margin-top:12px;background:#1f4fd8;color:#fff;border:0;border-radius:6px;padding:8px 14px;cursor:pointer;text-decoration:none}",
    ".shopmind-banner .shopmind-button{margin:0;background:#fff;color:#1f4fd8}",
    ".shopmind-close{position:absolute;top:6px;right:10px;border:0;background:none;font-size:20px;cursor:pointer;color:inherit}",
    ".shopmind-banner .shopmind-close{position:static}",
    ".shopmind-items{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:10px;list-style:none;padding:0}",
    ".shopmind-item{border:1px solid #ddd;border-radius:8px;padding:8px;font-size:13px}",
    ".shopmind-reason{color:#666;font-size:12px}"
  ].join("");
  function style() {
    if (d.getElementById("shopmind-style")) return;
    var s = el("style"); s.id = "shopmind-style"; s.textContent = STYLE; d.head.appendChild(s);
  }
  function render(decision, slot) {
    style();
    var a = decision.action;
    var box = el("div", "shopmind-box shopmind-" + a.kind.replace("_", "-"));
    box.setAttribute("role", a.kind === "popup" ? "dialog" : "region");
    box.dataset.shopmindDecision = decision.decision_id;
    box.dataset.shopmindTrigger = a.trigger;
    var close = el("button", "shopmind-close", "×");
    close.setAttribute("aria-label", "close");
    box.appendChild(close);
    box.appendChild(el("p", "shopmind-title", a.title));
    if (a.body) box.appendChild(el("p", "shopmind-body", a.body));
    if (a.coupon) box.appendChild(el("div", "shopmind-coupon", a.coupon));
    if (a.items && a.items.length) {
      var list = el("ul", "shopmind-items");
      a.items.forEach(function (item) {
        var li = el("li", "shopmind-item");
        li.dataset.productId = item.product_id;
        li.appendChild(el("div", "shopmind-name", item.name));
        if (item.price != null) li.appendChild(el("div", "shopmind-price", Number(item.price).toLocaleString() + "원"));
        li.appendChild(el("div", "shopmind-reason", item.reason.text));
        li.addEventListener("click", function () { outcome(decision, "clicked"); });
        list.appendChild(li);
      });
      box.appendChild(list);
    }
    if (a.button) {
      var button = el("a", "shopmind-button", a.button);
      button.href = link(a.link) || "#";
      button.addEventListener("click", function (e) {
        e.preventDefault();
        var go = function () { if (a.link) w.location.href = link(a.link); };
        outcome(decision, "clicked").then(go, go);
      });
      box.appendChild(button);
    }
    var root = box;
    if (a.kind === "popup") {
      root = el("div", "shopmind-overlay");
      root.appendChild(box);
      d.body.appendChild(root);
    } else if (a.kind === "slide_in") {
      box.className += " shopmind-slide";
      d.body.appendChild(box);
    } else {
      if (a.kind === "banner") box.className = "shopmind-banner";
      var target = slot || d.querySelector('[data-shopmind-placement="' + decision.placement + '"]');
      if (target) target.appendChild(box); else d.body.insertBefore(box, d.body.firstChild);
    }
    close.addEventListener("click", function () {
      root.remove();
      outcome(decision, "dismissed");
    });
    outcome(decision, "shown");
    notify("render", decision);
  }

  // -- automatic signals -------------------------------------------------------------------
  function exitIntent() {
    if (exitSent) return Promise.resolve(null);
    exitSent = true;
    track("Exit Intent", { page_type: pageType(), seconds: (Date.now() - pageStarted) / 1000 });
    return decide("popup");
  }
  function onScroll() {
    var doc = d.documentElement;
    var max = Math.max(1, doc.scrollHeight - w.innerHeight);
    var percent = Math.min(100, Math.round((w.scrollY / max) * 100));
    [25, 50, 75, 100].forEach(function (mark) {
      if (percent >= mark && !depths[mark]) { depths[mark] = true; track("Scroll Depth", { percent: mark }); }
    });
  }
  function notify(kind, detail) { listeners.forEach(function (fn) { try { fn(kind, detail); } catch (e) { /* the page's own */ } }); }

  d.addEventListener("mouseout", function (e) {
    if (!e.relatedTarget && e.clientY <= 0) exitIntent();
  });
  w.addEventListener("scroll", onScroll, { passive: true });
  w.addEventListener("pagehide", function () {
    var body = JSON.stringify({ type: "track", event: "Page Left", messageId: uuid(), anonymousId: anonymousId(),
      userId: userId() || undefined, timestamp: new Date().toISOString(), sentAt: new Date().toISOString(),
      properties: { seconds: (Date.now() - pageStarted) / 1000 }, context: context() });
    if (navigator.sendBeacon) navigator.sendBeacon(host + "/v1/track?writeKey=" + encodeURIComponent(writeKey), new Blob([body], { type: "text/plain" }));
  });

  w.shopmind = {
    version: "1",
    track: track,
    page: page,
    identify: identify,
    consent: consent,
    subscribePush: subscribePush,
    unsubscribePush: unsubscribePush,
    decide: decide,
    exitIntent: exitIntent,
    reset: reset,
    anonymousId: anonymousId,
    flush: function () { return queue; },
    on: function (fn) { listeners.push(fn); }
  };
  function start() {
    if (cfg.autoPage !== "false") page();
    d.querySelectorAll("[data-shopmind-placement]").forEach(function (slot) {
      decide(slot.getAttribute("data-shopmind-placement"), slot);
    });
  }
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", start); else start();
})(window, document);
