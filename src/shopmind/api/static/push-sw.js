/*! shopmind push service worker — shows the web push notifications of shopmind's campaigns.
 *
 * Served at https://YOUR-SHOPMIND/push-sw.js. A service worker must come from the page's own
 * origin: when shopmind runs on another host than the shop, put one line in a file on the shop's
 * site (e.g. /shopmind-sw.js) and let shopmind.subscribePush() register it:
 *
 *   importScripts("https://YOUR-SHOPMIND/push-sw.js");
 *
 * Each push carries JSON {key, tag, title, body, url, image} (encrypted for this browser). The
 * notification's tag is the message's key, so a message sent again shows once; a click opens
 * its link.
 */
(function (self) {
  "use strict";
  self.addEventListener("install", function () { self.skipWaiting(); });
  self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });
  self.addEventListener("push", function (event) {
    var data = {};
    try { data = event.data ? event.data.json() : {}; }
    catch (e) { data = { body: event.data ? event.data.text() : "" }; }
    var title = data.title;
    var body = data.body || "";
    if (!title) {  // no subject: the first line is the title, as the compliance step puts "(광고)" there
      var lines = body.split("\n");
      title = lines.shift();
      body = lines.join("\n");
    }
    var options = { body: body, tag: data.tag || data.key, data: { url: data.url || null, key: data.key || null } };
    if (data.image) options.image = data.image;
    event.waitUntil(self.registration.showNotification(title || "", options));
  });
  self.addEventListener("notificationclick", function (event) {
    event.notification.close();
    var url = event.notification.data && event.notification.data.url;
    if (url) event.waitUntil(self.clients.openWindow(url));
  });
})(self);
