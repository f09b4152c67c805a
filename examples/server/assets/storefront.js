// Storefront: the order page follows its order live through the API's
// tracking websocket. The browser sends the session cookie with the
// upgrade, so no token is ever visible to this script. No inline script,
// no framework: the page works without it, this only keeps it current.
(function () {
  "use strict";

  var body = document.body;
  var orderId = body && body.getAttribute("data-order-id");
  if (!orderId || !("WebSocket" in window)) {
    return;
  }

  var statusEl = document.getElementById("order-status");
  var trackingRow = document.getElementById("tracking-row");
  var trackingEl = document.getElementById("order-tracking");
  var events = document.getElementById("order-events");
  var live = document.getElementById("live");
  // Statuses in words, by code (the page's own table).
  var words = { status: {}, payment: {} };
  try {
    words = JSON.parse(statusEl.getAttribute("data-words")) || words;
  } catch (e) {}
  function statusWords(code) {
    return (words.status && words.status[code]) || code;
  }

  function lastEventId() {
    var items = events ? events.querySelectorAll("li[data-event-id]") : [];
    return items.length ? items[items.length - 1].getAttribute("data-event-id") : null;
  }

  function setStatus(status) {
    if (!statusEl || !status) return;
    statusEl.textContent = statusWords(status);
    statusEl.setAttribute("data-status", status);
    statusEl.className = "status status-" + status;
    // Paid or cancelled elsewhere (the provider's webhook): nothing is
    // left to complete here.
    var action = document.getElementById("payment-action");
    if (action && status !== "awaiting_payment") action.hidden = true;
  }

  function setTracking(number) {
    if (!trackingEl || !trackingRow) return;
    if (number) {
      trackingEl.textContent = number;
      trackingRow.hidden = false;
    }
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function formatTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + " UTC";
  }

  function addEvent(event) {
    if (!events || !event || !event.id) return;
    if (events.querySelector('li[data-event-id="' + CSS.escape(String(event.id)) + '"]')) return;
    var li = document.createElement("li");
    li.setAttribute("data-event-id", event.id);
    li.setAttribute("data-type", event.type || "status_changed");
    li.className = "new";
    var status = document.createElement("span");
    status.className = "status status-" + event.to;
    status.textContent = statusWords(event.to);
    li.appendChild(status);
    if (event.type === "payment_updated" && event.data && event.data.status) {
      var payment = document.createElement("span");
      payment.className = "payment-event";
      payment.textContent = "Payment: " +
        ((words.payment && words.payment[event.data.status]) || event.data.status);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(payment);
    }
    var time = document.createElement("time");
    time.setAttribute("datetime", event.at);
    time.textContent = formatTime(event.at);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(time);
    if (event.note) {
      var note = document.createElement("bdi");
      note.className = "note";
      note.textContent = event.note;
      li.appendChild(note);
    }
    events.appendChild(li);
  }

  // The latest refresh wins: an older one that answers late is dropped.
  var refreshes = 0;
  function refreshParts() {
    var mine = ++refreshes;
    fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        if (mine !== refreshes) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var parts = document.querySelectorAll("section[data-live][id]");
        for (var i = 0; i < parts.length; i++) {
          var next = fresh.getElementById(parts[i].id);
          // A form being filled in is kept as typed.
          if (!next || parts[i].contains(document.activeElement)) continue;
          parts[i].replaceWith(document.importNode(next, true));
        }
      })
      .catch(function () {});
  }

  var attempts = 0;
  var socket = null;
  var closing = false;

  function connect() {
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var url = scheme + "//" + location.host + "/api/orders/" + encodeURIComponent(orderId) + "/track";
    var query = [];
    var after = lastEventId();
    if (after) query.push("after=" + encodeURIComponent(after));
    // A guest's order page carries its order token (`?token=`): the
    // socket presents it, having no session.
    var orderToken = new URLSearchParams(location.search).get("token");
    if (orderToken) query.push("order_token=" + encodeURIComponent(orderToken));
    if (query.length) url += "?" + query.join("&");
    socket = new WebSocket(url);
    socket.onopen = function () {
      attempts = 0;
      if (live) live.hidden = false;
    };
    socket.onmessage = function (message) {
      var frame;
      try {
        frame = JSON.parse(message.data);
      } catch (e) {
        return;
      }
      if (frame.type === "snapshot" && frame.order) {
        setStatus(frame.order.status);
        setTracking(frame.order.tracking_number);
      } else if (frame.type === "event" && frame.event) {
        setStatus(frame.event.to);
        addEvent(frame.event);
        // Shipments, refunds, returns, notes, the cancel button: the page
        // renders them; its fresh copy replaces them.
        refreshParts();
        if (frame.event.to === "shipped") {
          // Events carry no tracking number: a fresh connection's snapshot
          // does, and `after` makes it resume exactly here.
          reconnectNow();
        }
      }
    };
    socket.onclose = function () {
      if (live) live.hidden = true;
      if (closing) return;
      attempts += 1;
      var delay = Math.min(30000, 500 * Math.pow(2, Math.min(attempts, 6)));
      window.setTimeout(connect, delay);
    };
  }

  function reconnectNow() {
    if (!socket) return;
    var old = socket;
    old.onclose = null;
    old.close(1000);
    connect();
  }

  window.addEventListener("pagehide", function () {
    closing = true;
    if (socket) socket.close(1000);
  });

  connect();
})();
