// Forms marked data-thinking show their "coach is thinking" note and disable their
// buttons while the request runs, so a slow model never makes the page look frozen.
// htmx requests handle their own indicator (hx-indicator); this covers plain submits.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-thinking]") || form.hasAttribute("hx-post")) {
      return;
    }
    var submitter = event.submitter;
    if (submitter && submitter.name === "wizard_goto_step") {
      return; // going back is instant
    }
    var note = document.getElementById(form.getAttribute("data-thinking"));
    if (note) {
      note.hidden = false;
    }
    window.setTimeout(function () {
      form.querySelectorAll("button").forEach(function (button) {
        button.disabled = true;
      });
    }, 0);
  });
})();
