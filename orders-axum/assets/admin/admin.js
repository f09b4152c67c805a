// The admin panel's live updates, through the JSON API's websockets (the
// browser sends the HttpOnly session cookie with the upgrade).
// - The orders list (table#orders) follows /admin/stream: a row's status
//   badge changes in place; a new order's row (fetched as an HTML fragment
//   from the server, already escaped) appears at the top.
// - An order page (body[data-order-id]) follows /orders/{id}/track: the
//   status and the timeline change at once; then the page is fetched again
//   and its live parts (section[data-live-part]: the actions, the customer
//   with the tracking number, the payment) replace the shown ones, keeping
//   what was typed into a form that is still there. If that fetch fails, a
//   notice offers a reload instead.
// On close it reconnects with ?after=<last event id>, so nothing is lost.
(function () {
  'use strict';
  var body = document.body;
  var api = body.getAttribute('data-api');
  var base = body.getAttribute('data-base');
  var table = document.getElementById('orders');
  var orderId = body.getAttribute('data-order-id');
  if (!api || (!table && !orderId)) return;

  var path = table ? api + '/admin/stream' : api + '/orders/' + encodeURIComponent(orderId) + '/track';
  var lastEvent = null;
  var delay = 1000;
  var live = document.getElementById('live');
  if (!table) {
    // Start after the last event the page shows: nothing between the
    // render and the socket's opening is missed.
    var shown = document.querySelectorAll('#order-events > li[data-event-id]');
    if (shown.length) lastEvent = shown[shown.length - 1].getAttribute('data-event-id');
  }

  function setBadge(el, status) {
    el.className = el.className.replace(/\bbadge-[a-z_]+/g, '').trim() + ' badge-' + status;
    el.textContent = status;
  }

  function onListEvent(ev) {
    var row = table.querySelector('tr.order-row[data-order-id="' + CSS.escape(ev.order_id) + '"]');
    if (row) {
      var badge = row.querySelector('td.status .badge');
      if (badge) setBadge(badge, ev.to);
      row.classList.remove('flash');
      void row.offsetWidth;
      row.classList.add('flash');
      return;
    }
    var filter = table.getAttribute('data-status-filter');
    if (ev.from !== null || table.getAttribute('data-live-insert') !== 'true') return;
    if (filter && filter !== ev.to) return;
    fetch(base + '/orders/' + encodeURIComponent(ev.order_id) + '/row', { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        if (table.querySelector('tr.order-row[data-order-id="' + CSS.escape(ev.order_id) + '"]')) return;
        var tpl = document.createElement('template');
        tpl.innerHTML = html.trim();
        var tr = tpl.content.querySelector('tr');
        if (!tr) return;
        tr.classList.add('flash');
        var tbody = table.tBodies[0];
        tbody.insertBefore(tr, tbody.firstChild);
        var empty = document.getElementById('no-orders');
        if (empty) empty.remove();
      })
      .catch(function () {});
  }

  function onOrderEvent(ev) {
    var list = document.getElementById('order-events');
    if (list && list.querySelector('li[data-event-id="' + CSS.escape(ev.id) + '"]')) return;
    var status = document.getElementById('order-status');
    if (status) setBadge(status, ev.to);
    if (list) {
      var li = document.createElement('li');
      li.setAttribute('data-event-id', ev.id);
      var badge = document.createElement('span');
      badge.className = 'badge badge-' + ev.to;
      badge.textContent = ev.to;
      var meta = document.createElement('span');
      meta.className = 'muted';
      // The refresh below brings the staff member's label; until then a
      // customer is "customer" and staff their id.
      var who = ev.actor.indexOf('customer:') === 0 ? 'customer' : ev.actor;
      var kind = ev.type && ev.type !== 'status_changed' ? ' ' + ev.type.replace(/_/g, ' ') : '';
      meta.textContent = kind + ' ' + (ev.from ? 'from ' + ev.from : 'placed') + ' · ' +
        ev.at.replace('T', ' ').slice(0, 16) + ' UTC · ' + who;
      li.appendChild(badge);
      li.appendChild(meta);
      if (ev.note) {
        var note = document.createElement('p');
        note.className = 'note';
        note.dir = 'auto';
        note.textContent = ev.note;
        li.appendChild(note);
      }
      list.appendChild(li);
    }
    refreshParts();
  }

  // The latest refresh wins: an older one that answers late is dropped.
  var refreshes = 0;
  function refreshParts() {
    var mine = ++refreshes;
    var stale = document.getElementById('stale');
    fetch(location.pathname, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        if (mine !== refreshes) return;
        var fresh = new DOMParser().parseFromString(html, 'text/html');
        var parts = document.querySelectorAll('section[data-live-part][id]');
        for (var i = 0; i < parts.length; i++) {
          var next = fresh.getElementById(parts[i].id);
          if (!next) throw new Error('no ' + parts[i].id);
          keepTyped(parts[i], next);
          parts[i].replaceWith(document.importNode(next, true));
        }
        if (stale) stale.hidden = true;
      })
      .catch(function () {
        if (mine === refreshes && stale) stale.hidden = false;
      });
  }

  // Copies what was typed into a form of `old` to the same field of the
  // same form (by data-to) in `next`, where that one is empty.
  function keepTyped(old, next) {
    var inputs = old.querySelectorAll('form[data-to] input[name]:not([type=hidden])');
    for (var i = 0; i < inputs.length; i++) {
      if (!inputs[i].value) continue;
      var form = inputs[i].form.getAttribute('data-to');
      var target = next.querySelector('form[data-to="' + CSS.escape(form) + '"] input[name="' +
        CSS.escape(inputs[i].name) + '"]');
      if (target && !target.getAttribute('value')) target.setAttribute('value', inputs[i].value);
    }
  }

  function connect() {
    var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    var url = scheme + location.host + path + (lastEvent ? '?after=' + encodeURIComponent(lastEvent) : '');
    var socket = new WebSocket(url);
    socket.onopen = function () {
      delay = 1000;
      if (live) live.hidden = false;
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (data.type !== 'event' || !data.event) return;
      lastEvent = data.event.id;
      if (table) onListEvent(data.event); else onOrderEvent(data.event);
    };
    socket.onclose = function () {
      if (live) live.hidden = true;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
