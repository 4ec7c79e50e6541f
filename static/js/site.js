/* Stepwise: the little JavaScript the pages use. Loaded from 'self' (CSP: no inline script).
 * Every page works without it. */
(function () {
  "use strict";

  function announce(button, text) {
    var target = document.getElementById(button.getAttribute("aria-describedby") || "");
    if (target) {
      target.textContent = text;
      window.setTimeout(function () { target.textContent = ""; }, 4000);
    }
  }

  function fallbackCopy(text) {
    var field = document.createElement("textarea");
    field.value = text;
    field.setAttribute("readonly", "");
    field.className = "visually-hidden";
    document.body.appendChild(field);
    field.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(field);
    return ok;
  }

  /* Copy `text` to the clipboard, with the old way where the Clipboard API is missing or
   * refuses; then `done()` or `failed()`. Shared with chat.js (window.stepwiseCopy). */
  function copyText(text, done, failed) {
    var fallback = function () { if (fallbackCopy(text)) { done(); } else { failed(); } };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  }
  window.stepwiseCopy = copyText;

  /* <button data-copy-url="https://..." data-copied="Copied!" data-failed="..." hidden>:
   * shown once JavaScript runs; copies the URL and says so in its aria-describedby element. */
  function setUpCopyButtons(root) {
    var buttons = (root || document).querySelectorAll("[data-copy-url]");
    Array.prototype.forEach.call(buttons, function (button) {
      if (button.dataset.copyReady) { return; }
      button.dataset.copyReady = "1";
      button.hidden = false;
      button.addEventListener("click", function () {
        var url = button.getAttribute("data-copy-url");
        copyText(
          url,
          function () { announce(button, button.getAttribute("data-copied") || "Copied"); },
          function () { announce(button, button.getAttribute("data-failed") || url); }
        );
      });
    });
  }

  /* <details class="account-menu">: works without JavaScript; with it, a click elsewhere
   * or Escape closes it, as a menu would. */
  function setUpMenus() {
    var menus = document.querySelectorAll("details.account-menu");
    if (!menus.length) { return; }
    document.addEventListener("click", function (event) {
      Array.prototype.forEach.call(menus, function (menu) {
        if (menu.open && !menu.contains(event.target)) { menu.open = false; }
      });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") { return; }
      Array.prototype.forEach.call(menus, function (menu) {
        if (menu.open) {
          menu.open = false;
          var summary = menu.querySelector("summary");
          if (summary) { summary.focus(); }
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpCopyButtons(document);
    setUpMenus();
  });
})();
