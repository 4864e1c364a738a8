/* Kassa customer portal: live balance (EventSource), htmx CSRF header, web push opt-in,
   the usage chart. No inline scripts (the CSP allows only same-origin files). */
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  document.body.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRFToken"] = csrf;
  });

  // An integer count of minor units as a decimal string ("12345", 2 -> "123.45"): the
  // amount is never turned into a float.
  function decimalString(minor, exponent) {
    var negative = minor < 0;
    var digits = String(Math.abs(minor));
    if (exponent > 0) {
      while (digits.length <= exponent) digits = "0" + digits;
      digits = digits.slice(0, digits.length - exponent) + "." + digits.slice(digits.length - exponent);
    }
    return (negative ? "-" : "") + digits;
  }

  function formatMoney(minor, currency, exponent, locale) {
    try {
      return new Intl.NumberFormat(locale, {style: "currency", currency: currency})
        .format(decimalString(minor, exponent));
    } catch (e) {
      return decimalString(minor, exponent) + " " + currency;
    }
  }
  window.kassaFormatMoney = formatMoney;

  // Live balance: one EventSource per wallet on the page. The browser reconnects by itself
  // and sends Last-Event-ID, so a reconnect only brings the state if it changed.
  document.querySelectorAll("[data-balance-stream]").forEach(function (box) {
    var value = box.querySelector(".balance-value");
    var status = box.querySelector(".live-status");
    var source = new EventSource(box.getAttribute("data-balance-stream"));
    source.addEventListener("balance", function (message) {
      var data = JSON.parse(message.data);
      value.textContent = formatMoney(
        data.balance, data.currency, Number(box.getAttribute("data-exponent")),
        box.getAttribute("data-locale"));
      box.setAttribute("data-balance", String(data.balance));
      box.setAttribute("data-sequence", String(data.sequence));
      box.classList.remove("flash");
      void box.offsetWidth;  // restart the highlight animation
      box.classList.add("flash");
    });
    source.addEventListener("open", function () {
      box.setAttribute("data-live", "on");
      if (status) status.textContent = status.getAttribute("data-on");
    });
    source.addEventListener("error", function () {
      box.setAttribute("data-live", "off");
      if (status) status.textContent = status.getAttribute("data-off");
    });
  });

  // A day on the chart's axis in the page's language and the organization's time zone
  // ("7 Dez." in German, "7 дек." in Russian); uPlot's own labels are English only.
  function dayLabels(locale, timeZone) {
    var format;
    try {
      format = new Intl.DateTimeFormat(locale, {day: "numeric", month: "short", timeZone: timeZone});
    } catch (e) {
      format = new Intl.DateTimeFormat(locale, {day: "numeric", month: "short"});
    }
    return function (seconds) { return format.format(new Date(seconds * 1000)); };
  }
  window.kassaDayLabels = dayLabels;

  // The usage chart (uPlot, served from this server).
  document.querySelectorAll("[data-usage-chart]").forEach(function (box) {
    if (!window.uPlot) return;
    var data = JSON.parse(document.getElementById(box.getAttribute("data-usage-chart")).textContent);
    var exponent = data.exponent;
    var values = data.amounts.map(function (minor) { return Number(decimalString(minor, exponent)); });
    var width = Math.max(280, box.clientWidth);
    var bars = window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({size: [0.7, 40]}) : undefined;
    var days = dayLabels(data.locale, data.timezone);
    box.kassaChart = new window.uPlot({
      width: width, height: 220,
      // Days start at midnight on the organization's clock, so ticks are placed on it too.
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1e3), data.timezone); },
      scales: {x: {time: true}},
      axes: [{values: function (u, ticks) { return ticks.map(days); }}, {values: function (u, ticks) {
        return ticks.map(function (t) { return t.toLocaleString(data.locale); });
      }}],
      legend: {show: false},
      series: [{}, {label: data.label, stroke: "#2f5bea", fill: "rgba(47,91,234,.35)", paths: bars, points: {show: false}}],
    }, [data.days, values], box);
    box.setAttribute("data-rendered", "true");
  });

  // Quick top-up: a preset fills the amount and asks for the bonus preview.
  document.querySelectorAll(".topup-form").forEach(function (form) {
    var input = form.querySelector('input[name="amount"]');
    form.querySelectorAll("button.preset").forEach(function (button) {
      button.addEventListener("click", function () {
        form.querySelectorAll("button.preset").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
        button.setAttribute("aria-pressed", "true");
        input.value = button.getAttribute("data-amount");
        if (window.htmx) window.htmx.trigger(input, "preset");
      });
    });
  });

  // Web push opt-in.
  var push = document.getElementById("push");
  if (push && push.getAttribute("data-public-key")) {
    var pushStatus = document.getElementById("push-status");
    var pushOn = document.getElementById("push-on");
    var pushOff = document.getElementById("push-off");
    // One button at a time: "turn on" while this browser is not signed up, "turn off" while it
    // is, neither when it cannot be (unsupported, or blocked in the browser's settings).
    var say = function (key) {
      pushStatus.textContent = pushStatus.getAttribute("data-" + key);
      pushOn.hidden = key !== "off";
      pushOff.hidden = key !== "on";
    };
    var keyBytes = function (base64url) {
      var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
      var raw = atob(padded), out = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
      return out;
    };
    var post = function (url, body) {
      return fetch(url, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf}, body: JSON.stringify(body)});
    };
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      say("unsupported");
    } else {
      navigator.serviceWorker.register("/portal/sw.js", {scope: "/portal/"}).then(function (reg) {
        reg.pushManager.getSubscription().then(
          function (sub) { say(sub ? "on" : "off"); },
          function () { say("unsupported"); });
        pushOn.addEventListener("click", function () {
          Notification.requestPermission().then(function (permission) {
            if (permission !== "granted") { say("denied"); return; }
            reg.pushManager.subscribe({userVisibleOnly: true,
              applicationServerKey: keyBytes(push.getAttribute("data-public-key"))})
              .then(function (sub) { return post("/portal/push/subscribe", sub.toJSON()); })
              .then(function () { say("on"); });
          });
        });
        pushOff.addEventListener("click", function () {
          reg.pushManager.getSubscription().then(function (sub) {
            if (!sub) { say("off"); return; }
            return post("/portal/push/unsubscribe", {endpoint: sub.endpoint})
              .then(function () { return sub.unsubscribe(); })
              .then(function () { say("off"); });
          });
        });
      }, function () { say("unsupported"); });  // no service worker here (e.g. plain http)
    }
  }
})();
