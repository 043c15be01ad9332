/* django-nxwa-onboarding: small enhancements for the customer pages. Everything works without
   this file: the page's own buttons and forms do the same, one press at a time. It runs under a
   strict Content-Security-Policy (script-src 'self', no inline style): it sets no style, only
   attributes, text and focus. */
(function () {
  "use strict";

  // After a failed post, focus goes to what went wrong: the first field in error (its label and
  // error are read with it), else a warning or error message (they carry tabindex="-1").
  var problem = document.querySelector("[aria-invalid='true']") ||
    document.querySelector(".nxwa-message[tabindex='-1']");
  if (problem && typeof problem.focus === "function") { problem.focus(); }

  // Paste into the code field: an SMS copied whole ("Your code is 123 456.") or in another script's
  // digits (full-width, Arabic-Indic) goes in as the code. Anything else is pasted as the browser
  // would: this never refuses a paste, the server reads what it gets.
  var codeRun = /\p{Nd}(?:[\s\-\u2010-\u2015\u2212\uff0d]*\p{Nd}){3,7}/gu;
  var digit = /\p{Nd}/u;

  function asciiDigit(ch) {
    // Unicode encodes decimal digits in runs of ten, 0 to 9, one after another (the mathematical
    // digits are five such runs back to back): walk back over the digits, count modulo ten.
    var point = ch.codePointAt(0);
    var start = point;
    while (start > 0 && point - start < 100 && digit.test(String.fromCodePoint(start - 1))) { start -= 1; }
    return String((point - start) % 10);
  }

  function codeIn(text) {
    var runs = text.match(codeRun);
    if (!runs || runs.length !== 1) { return null; }
    return Array.from(runs[0]).filter(function (ch) { return digit.test(ch); }).map(asciiDigit).join("");
  }

  document.querySelectorAll("input.nxwa-code-input").forEach(function (field) {
    field.addEventListener("paste", function (event) {
      var data = event.clipboardData || window.clipboardData;
      var text = data ? data.getData("text") : "";
      var code = text ? codeIn(text) : null;
      if (code === null || code === text) { return; }
      event.preventDefault();
      field.value = code;
      field.dispatchEvent(new Event("input", { bubbles: true }));
    });
  });

  // "Send a new code" becomes available when its cooldown ends. The note beside it is a status
  // region that says when, once: it changes (and is announced) once more, when the button comes on;
  // it never counts down.
  document.querySelectorAll("button[data-nxwa-available-in]").forEach(function (button) {
    var seconds = parseInt(button.getAttribute("data-nxwa-available-in"), 10);
    if (!(seconds > 0)) { return; }
    window.setTimeout(function () {
      button.disabled = false;
      button.removeAttribute("aria-describedby");
      var note = button.form && button.form.querySelector("[data-nxwa-wait-note]");
      if (note) {
        var ready = note.getAttribute("data-nxwa-ready-text");
        if (ready) { note.textContent = ready; } else { note.hidden = true; }
      }
    }, seconds * 1000 + 250);
  });

  // While WhatsApp is being set up, post the refresh form now and then and reload on change.
  var form = document.querySelector("form[data-nxwa-poll]");
  if (!form || !window.fetch || !window.FormData) { return; }
  var note = document.querySelector("[data-nxwa-poll-note]");
  if (note) { note.hidden = false; }
  var delays = [2500, 4000, 6000, 10000, 15000, 30000];
  var attempt = 0;
  var stopAt = Date.now() + 15 * 60 * 1000;

  function schedule() {
    if (Date.now() > stopAt) { if (note) { note.hidden = true; } return; }
    window.setTimeout(poll, delays[Math.min(attempt, delays.length - 1)]);
    attempt += 1;
  }

  function poll() {
    window.fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (data && (data.changed || data.done)) { window.location.reload(); } else { schedule(); }
    }, schedule);
  }

  schedule();
})();
