// Checkout: the summary follows the form. When the customer changes the
// country or the shipping method, the page asks the shop for the cart
// priced for them (GET /checkout/quote) and shows the new shipping, tax
// and total, and the total the form will submit as `expected_total`.
// Without this script the "Review total" button does the same through the
// server; either way the shop refuses to charge a total it did not show.
(function () {
  "use strict";

  var form = document.getElementById("checkout");
  if (!form || !window.fetch) return;
  var country = form.querySelector("[name='shipping_address.country']");
  var expected = form.querySelector("[name='expected_total']");
  var place = document.getElementById("place-order");
  var review = document.getElementById("review-total");
  // The summary is always current here: the round trip is not needed.
  if (review) review.hidden = true;

  function chosenMethod() {
    var checked = form.querySelector("[name='shipping_method']:checked");
    return checked ? checked.value : "";
  }

  function set(id, text) {
    var el = document.getElementById(id);
    if (el && typeof text === "string") el.textContent = text;
  }

  var latest = 0;
  var busy = false;
  // A Place order pressed while the total is being recalculated waits for
  // it, so the total submitted is the one on screen.
  var waiting = null;
  function update() {
    var mine = ++latest;
    busy = true;
    var query = "?country=" + encodeURIComponent(country ? country.value : "") +
      "&shipping_method=" + encodeURIComponent(chosenMethod());
    form.setAttribute("aria-busy", "true");
    fetch("/checkout/quote" + query, {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (q) {
        if (mine !== latest) return;
        set("checkout-subtotal", q.subtotal);
        set("checkout-discount", "\u2212" + q.discount);
        set("checkout-shipping", q.shipping);
        set("checkout-tax", q.tax);
        set("checkout-total", q.total);
        set("checkout-due", q.total);
        set("checkout-due-for", q.due_for);
        if (expected) expected.value = q.expected_total;
        for (var code in q.methods) {
          if (Object.prototype.hasOwnProperty.call(q.methods, code)) {
            set("field-shipping_method-" + code + "-price", q.methods[code]);
          }
        }
      })
      .catch(function () {
        // The total shown stays; if it is stale the shop refuses it
        // (price_changed) and shows the right one.
      })
      .then(function () {
        if (mine !== latest) return;
        busy = false;
        form.removeAttribute("aria-busy");
        if (waiting) {
          var submitter = waiting;
          waiting = null;
          if (form.requestSubmit) form.requestSubmit(submitter); else form.submit();
        }
      });
  }

  form.addEventListener("submit", function (event) {
    if (busy && event.submitter === place) {
      event.preventDefault();
      waiting = place;
    }
  });

  if (country) country.addEventListener("change", update);
  var methods = form.querySelectorAll("[name='shipping_method']");
  for (var i = 0; i < methods.length; i++) {
    methods[i].addEventListener("change", update);
  }
})();
