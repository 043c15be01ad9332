/* django-nxwa-onboarding: small enhancements for the customer pages. Everything works without
   this file: the page's own buttons and forms do the same, one press at a time. */
(function () {
  "use strict";

  // "Send a new code" becomes available when its cooldown ends.
  document.querySelectorAll("button[data-nxwa-available-in]").forEach(function (button) {
    var seconds = parseInt(button.getAttribute("data-nxwa-available-in"), 10);
    if (!(seconds > 0)) { return; }
    window.setTimeout(function () {
      button.disabled = false;
      button.removeAttribute("aria-describedby");
      var note = button.form && button.form.querySelector("[data-nxwa-wait-note]");
      if (note) { note.hidden = true; }
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
