/* Stepwise: the session page's small tools. Loaded from 'self' (CSP: no inline script).
 * Without it the page still works: the form sends with its button, and replies can be
 * selected and copied by hand.
 *
 * - In the message box Enter sends and Shift+Enter starts a new line (Ctrl/Cmd+Enter sends
 *   too). Enter that ends an IME composition (Korean, Japanese, Chinese input) only ends
 *   the composition. On touch-only devices Enter keeps making new lines.
 * - Copy on a reply puts its Markdown source (the <template class="message-source"> in
 *   it) on the clipboard. Buttons added later (a streamed reply) work too: the clicks are
 *   caught on the conversation. */
(function () {
  "use strict";

  var conversation = document.getElementById("conversation");
  var form = document.getElementById("message-form");
  var box = form ? form.querySelector("textarea[name=content]") : null;

  /* --- Enter sends ------------------------------------------------------------- */

  var touchOnly = !!(window.matchMedia && window.matchMedia("(hover: none) and (pointer: coarse)").matches);
  var composing = false;

  function submitForm() {
    var send = document.getElementById("send-button");
    if (!box.value.trim() || box.disabled || (send && (send.disabled || send.hidden))) {
      return;
    }
    if (form.requestSubmit) {
      form.requestSubmit(send || undefined); // runs the submit handlers (stream.js)
    } else if (send) {
      send.click();
    }
  }

  function onKeyDown(event) {
    if (event.key !== "Enter" || event.altKey) { return; }
    // Safari ends the composition before this keydown (keyCode 229), others during it.
    if (event.isComposing || composing || event.keyCode === 229) { return; }
    var chord = event.ctrlKey || event.metaKey;
    if (event.shiftKey && !chord) { return; } // a new line
    if (!chord && touchOnly) { return; } // a new line: the on-screen keyboard has no Shift+Enter
    event.preventDefault();
    submitForm();
  }

  if (form && box) {
    box.addEventListener("compositionstart", function () { composing = true; });
    box.addEventListener("compositionend", function () { composing = false; });
    box.addEventListener("keydown", onKeyDown);
    var hint = document.getElementById("composer-hint");
    if (hint && !touchOnly) {
      hint.hidden = false;
      var described = box.getAttribute("aria-describedby");
      box.setAttribute("aria-describedby", described ? described + " " + hint.id : hint.id);
    }
  }

  /* --- Copy a reply ------------------------------------------------------------- */

  if (!conversation) { return; }
  var strings = conversation.dataset;

  function sourceOf(bubble) {
    var template = bubble.querySelector("template.message-source");
    return template ? template.content.textContent : "";
  }

  function say(button, text) {
    var status = button.parentNode.querySelector(".copy-status");
    if (!status) { return; }
    status.textContent = text;
    window.clearTimeout(status.__clear);
    status.__clear = window.setTimeout(function () { status.textContent = ""; }, 4000);
  }

  function copy(button) {
    var bubble = button.closest(".message");
    if (!bubble) { return; }
    window.stepwiseCopy(
      sourceOf(bubble),
      function () { say(button, strings.copied || "Copied."); },
      function () { say(button, strings.copyFailed || "Could not copy."); }
    );
  }

  /* Copy buttons wait for a script (hidden without it); stream.js shows those it adds. */
  function showCopyButtons(root) {
    Array.prototype.forEach.call(root.querySelectorAll("[data-copy-reply]"), function (button) {
      button.hidden = false;
    });
  }

  conversation.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy-reply]") : null;
    if (button && conversation.contains(button)) { copy(button); }
  });
  showCopyButtons(conversation);
})();
