// Forms marked data-thinking show their "coach is thinking" note and disable their
// buttons while the request runs, so a slow model never makes the page look frozen.
// Forms whose submit another script took over (stream.js) are left alone.
//
// The wizard's last step (data-stream-field) also says that this browser can follow a
// streamed reply: the session then opens at once and its page shows the plan as it is
// written (static/js/stream.js). Without JavaScript the wizard waits for the whole plan.
(function () {
  "use strict";

  var canStream = !!(window.fetch && window.ReadableStream && window.TextDecoder &&
    window.EventSource && window.AbortController);
  if (canStream) {
    document.querySelectorAll("form[data-stream-field]").forEach(function (form) {
      var field = document.createElement("input");
      field.type = "hidden";
      field.name = form.getAttribute("data-stream-field") || "stream";
      field.value = "1";
      form.appendChild(field);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.matches || !form.matches("form[data-thinking]")) {
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
