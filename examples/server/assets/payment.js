// Storefront payments with Stripe.js (loaded only when Stripe takes the
// payments). On the checkout page, Stripe's card fields are mounted in
// #card-element; on submit, Stripe.js turns the card into a payment method
// in the browser and only its id is posted, as `payment.token`: the card
// number never reaches the shop's server. On the order page of an order
// awaiting payment, Stripe.js runs the customer's action (3-D Secure) with
// the payment's client secret, then the "Complete payment" form is posted
// and the server asks Stripe how it ended.
(function () {
  "use strict";

  if (typeof window.Stripe !== "function") {
    return;
  }

  function say(element, message) {
    if (!element) return;
    element.textContent = message;
    element.hidden = false;
  }

  function messageOf(failure, fallback) {
    if (typeof failure === "string" && failure) return failure;
    if (failure && typeof failure.message === "string" && failure.message) {
      return failure.message;
    }
    return fallback;
  }

  // The id of a card payment method made from the card fields. Stripe.js's
  // createPaymentMethod makes a `pm_`. localstripe's stand-in Stripe.js
  // (tests) has only a stub of it that resolves to nothing; there a card
  // token's card (a `card_` id, which its PaymentIntents take) stands in.
  function paymentMethod(stripe, card) {
    return Promise.resolve(stripe.createPaymentMethod({ type: "card", card: card }))
      .then(function (result) {
        if (result && result.paymentMethod) return result.paymentMethod.id;
        if (result && result.error) throw result.error;
        return Promise.resolve(stripe.createToken(card)).then(function (made) {
          if (made && made.token && made.token.card) return made.token.card.id;
          throw (made && made.error) || "no payment method";
        });
      });
  }

  function checkout(form, mount) {
    var stripe = window.Stripe(mount.getAttribute("data-stripe-key"));
    var card = stripe.elements().create("card");
    card.mount(mount);
    var token = form.querySelector("input[name='payment.token']");
    var error = document.getElementById("card-element-error");
    var busy = false;
    form.addEventListener("submit", function (event) {
      var method = form.querySelector("input[name='payment.method']:checked");
      if (!token || (method && method.value !== "card")) {
        return;
      }
      event.preventDefault();
      if (busy) return;
      busy = true;
      if (error) error.hidden = true;
      paymentMethod(stripe, card).then(
        function (id) {
          token.value = id;
          form.submit();
        },
        function (failure) {
          busy = false;
          say(error, messageOf(failure, "Your card could not be read. Please check its details."));
        }
      );
    });
  }

  function completeAction(form) {
    var stripe = window.Stripe(form.getAttribute("data-stripe-key"));
    var secret = form.getAttribute("data-client-secret");
    var error = document.getElementById("payment-action-error");
    var busy = false;
    function run() {
      if (busy) return;
      busy = true;
      var act = typeof stripe.confirmCardPayment === "function"
        ? stripe.confirmCardPayment
        : stripe.handleCardAction;
      // Whatever Stripe.js says, the server asks Stripe how it ended: a
      // failed action cancels the order there, a finished one pays it.
      Promise.resolve(act.call(stripe, secret)).then(
        function (result) {
          if (result && result.error) say(error, messageOf(result.error, ""));
          form.submit();
        },
        function () {
          form.submit();
        }
      );
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      run();
    });
    if (form.hasAttribute("data-autostart")) {
      run();
    }
  }

  var checkoutForm = document.getElementById("checkout");
  var mount = document.getElementById("card-element");
  if (checkoutForm && mount) {
    checkout(checkoutForm, mount);
  }
  var actionForm = document.getElementById("complete-payment");
  if (actionForm && actionForm.getAttribute("data-client-secret")) {
    completeAction(actionForm);
  }
})();
