// The password forms (/login, /account): a checkbox that shows the typed passwords (ASVS 2.1.12), and on
// /account a strength hint from the server's password policy as the user types (ASVS 2.1.8).
(function () {
  "use strict";
  document.querySelectorAll("input[data-show-passwords]").forEach(function (toggle) {
    const fields = toggle.form.querySelectorAll("input[data-password]");
    toggle.addEventListener("change", function () {
      fields.forEach(function (field) { field.type = toggle.checked ? "text" : "password"; });
    });
  });
  const fresh = document.getElementById("account-new");
  if (!fresh) {
    return;
  }
  const meter = document.getElementById("account-meter");
  const hint = document.getElementById("account-strength");
  let timer = null;
  fresh.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      fetch("/account/strength", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({password: fresh.value}),
      }).then(function (answer) { return answer.ok ? answer.json() : null; }).then(function (found) {
        if (found) {
          meter.value = found.score;
          hint.textContent = found.text;
          hint.dataset.ok = String(found.ok);
        }
      }).catch(function () { /* the hint is a help only: the server checks the password on submit */ });
    }, 250);
  });
})();
