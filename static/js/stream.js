/* Stepwise: the coach's reply as it is written (docs/streaming.md). Loaded from 'self'
 * (CSP: no inline script). Model text never goes into the page as HTML: only the server's
 * sanitised `html` and `content_html` do; anything else is set as text.
 *
 * - The message form and the retry form POST to the API with `Accept: text/event-stream`
 *   and read the events from the response body. If that connection breaks, EventSource
 *   resumes from the last event (`/api/messages/<id>/stream/`).
 * - A reply the server rendered while it was still being written (`data-stream-url`:
 *   a reload, a second tab, the wizard's fresh session) is followed with EventSource.
 * - While a reply is written the message box is disabled and the owner gets a Stop button.
 * - A finished reply gets its footer (#reply-foot-template): the model that wrote it, Copy
 *   (static/js/chat.js), and for the owner's last reply Regenerate, and Continue when it
 *   was cut short. Both POST to the API and stream like a message: Continue into the same
 *   reply, Regenerate into a new one that takes the old one's place (the old one becomes
 *   an earlier version, shown under the new one once the page is fetched again).
 *
 * Without this script the forms post to the page, which waits for the whole reply. */
(function () {
  "use strict";

  if (!window.fetch || !window.ReadableStream || !window.TextDecoder || !window.EventSource ||
      !window.AbortController) {
    return;
  }

  var conversation = document.getElementById("conversation");
  if (!conversation) { return; }
  var strings = conversation.dataset;
  var isOwner = conversation.hasAttribute("data-owner");
  var messageForm = document.getElementById("message-form");
  var retryForm = document.getElementById("retry-form");
  var composer = document.getElementById("composer");
  var box = messageForm ? messageForm.querySelector("textarea[name=content]") : null;
  var sendButton = document.getElementById("send-button");
  var stopButton = document.getElementById("stop-button");
  var busyNote = document.getElementById("composer-busy");
  var errorArea = document.getElementById("composer-errors");

  /* The turn this page shows live (at most one per session):
   * {id, bubble, text, lastId, finished, own, source, controller, userBubble, kind,
   *  replaced}; `kind` is "message", "retry", "continue", "regenerate" or "follow". */
  var turn = null;

  function noop() {}

  function csrfToken() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function parseJSON(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  /* The API's URLs for message `id`, from the form's templates (made for message 0). */
  function messageUrl(attribute, fallback, id) {
    var template = (messageForm && messageForm.getAttribute(attribute)) || fallback;
    return template.replace("/0/", "/" + encodeURIComponent(id) + "/");
  }

  function streamUrl(id, lastId) {
    var url = messageUrl("data-resume-url", "/api/messages/0/stream/?render=html", id);
    return lastId ? url + "&last_event_id=" + encodeURIComponent(lastId) : url;
  }

  function stopUrl(id) {
    return messageUrl("data-stop-url", "/api/messages/0/stop/", id);
  }

  function formatNow() {
    try {
      return new Date().toLocaleString(document.documentElement.lang || undefined,
        { dateStyle: "short", timeStyle: "short" });
    } catch (e) {
      return new Date().toLocaleString();
    }
  }

  /* --- The message box ------------------------------------------------------- */

  function setBusy(busy) {
    if (composer) { composer.classList.toggle("is-streaming", busy); }
    if (box) { box.disabled = busy; }
    if (sendButton) { sendButton.hidden = busy; }
    if (busyNote) { busyNote.hidden = !busy; }
    if (stopButton) {
      stopButton.hidden = !busy || !isOwner;
      stopButton.disabled = !(turn && turn.id != null);
    }
    setReplyActionsDisabled(busy || !!(sendButton && sendButton.disabled));
  }

  function setReplyActionsDisabled(disabled) {
    Array.prototype.forEach.call(conversation.querySelectorAll(".reply-action button"), function (button) {
      button.disabled = disabled;
    });
  }

  function clearErrors() {
    if (errorArea) { errorArea.textContent = ""; }
    if (messageForm) {
      Array.prototype.forEach.call(messageForm.querySelectorAll(".errors"), function (node) {
        if (node !== errorArea) { node.remove(); }
      });
    }
  }

  function showErrors(texts) {
    if (!errorArea) { return; }
    errorArea.textContent = "";
    var list = document.createElement("ul");
    list.className = "errorlist";
    texts.forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      list.appendChild(item);
    });
    errorArea.appendChild(list);
  }

  /* A refusal's words: `detail`, or the field errors (`{"content": ["..."]}`). */
  function errorTexts(data) {
    if (!data || typeof data !== "object") { return []; }
    if (typeof data.detail === "string") { return [data.detail]; }
    var texts = [];
    Object.keys(data).forEach(function (key) {
      var value = data[key];
      (Array.isArray(value) ? value : [value]).forEach(function (item) {
        if (typeof item === "string") { texts.push(item); }
      });
    });
    return texts;
  }

  /* Today's count changes when a turn opens (a unit is reserved) and may change back when
   * it fails: take the fresh notice, and the Send button's state, from the page itself
   * (server-rendered and translated; a parsed document runs no script). New bubbles take
   * their time from it too, in the server's format. */
  function refreshFromPage(acted) {
    var current = document.getElementById("composer-quota");
    if (!current || !window.DOMParser) { return; }
    fetch(window.location.pathname, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("composer-quota");
        if (fresh) { current.replaceWith(document.importNode(fresh, true)); }
        var freshSend = page.getElementById("send-button");
        if (freshSend && sendButton) {
          sendButton.disabled = freshSend.disabled;
          if (!turn) { setReplyActionsDisabled(freshSend.disabled); }
        }
        if (acted) { syncReply(page, acted); }
        Array.prototype.forEach.call(conversation.querySelectorAll("time[data-local]"), function (time) {
          var bubble = time.closest(".message");
          var stored = bubble && bubble.id ? page.getElementById(bubble.id) : null;
          var storedTime = stored ? stored.querySelector("time") : null;
          if (storedTime) {
            time.textContent = storedTime.textContent;
            time.setAttribute("datetime", storedTime.getAttribute("datetime") || "");
            time.removeAttribute("data-local");
          }
        });
      })
      .catch(noop);
  }

  /* --- Bubbles ---------------------------------------------------------------- */

  function newBubble(templateId) {
    var template = document.getElementById(templateId);
    if (!template) { return null; }
    var bubble = template.content.firstElementChild.cloneNode(true);
    var time = bubble.querySelector("time");
    if (time) {
      time.setAttribute("datetime", new Date().toISOString());
      time.setAttribute("data-local", ""); // until the page's own format comes
      time.textContent = formatNow();
    }
    return bubble;
  }

  function bodyOf(bubble) {
    return bubble.querySelector(".message-body");
  }

  function setStatusLine(bubble, text) {
    var line = bubble.querySelector(".message-status");
    if (!text) {
      if (line) { line.remove(); }
      return;
    }
    if (!line) {
      line = document.createElement("p");
      line.className = "message-status";
      line.setAttribute("role", "status");
      bubble.appendChild(line);
    }
    line.textContent = text;
  }

  function addNote(bubble, className, text, role) {
    var note = document.createElement("p");
    note.className = className;
    if (role) { note.setAttribute("role", role); }
    note.textContent = text;
    bubble.appendChild(note);
  }

  function setBubbleStatus(bubble, status) {
    bubble.className = bubble.className.replace(/\bmessage--(streaming|ok|stopped|failed|interrupted)\b/g, "").trim();
    bubble.classList.add("message--" + status);
    bubble.setAttribute("data-status", status);
    if (status === "streaming") {
      bubble.setAttribute("aria-busy", "true");
    } else {
      bubble.removeAttribute("aria-busy");
      bubble.removeAttribute("data-stream-url");
      bubble.classList.remove("is-writing");
    }
  }

  function sourceOf(bubble) {
    var template = bubble.querySelector("template.message-source");
    return template ? template.content.textContent : "";
  }

  /* The Markdown that Copy takes: never parsed as HTML, set as text. */
  function setSource(bubble, text) {
    var template = bubble.querySelector("template.message-source");
    if (template) { template.content.textContent = text; }
  }

  function replaceMessageId(url, id) {
    return url.replace(/\/messages\/0\//, "/messages/" + encodeURIComponent(id) + "/");
  }

  /* Only the conversation's last reply can be continued or regenerated. */
  function dropReplyActions(except) {
    Array.prototype.forEach.call(conversation.querySelectorAll(".reply-action"), function (form) {
      if (!except || !except.contains(form)) { form.remove(); }
    });
  }

  /* The library passages a finished reply was given ("Sources"), as the page shows them
   * (sessions_app/partials/sources.html): built from text, never from HTML. */
  function fillSources(bubble, message) {
    var old = bubble.querySelector(".message-sources");
    if (old) { old.remove(); }
    var sources = Array.isArray(message.sources) ? message.sources : [];
    if (!sources.length) { return; }
    var section = document.createElement("section");
    section.className = "message-sources";
    section.setAttribute("aria-label", strings.sources || "Sources");
    var title = document.createElement("h3");
    title.className = "message-sources__title";
    title.textContent = strings.sources || "Sources";
    var list = document.createElement("ol");
    list.className = "message-sources__list";
    sources.forEach(function (source) {
      var item = document.createElement("li");
      var label = String(source.document || "") + (source.heading ? " \u203a " + source.heading : "");
      if (typeof source.url === "string" && source.url.charAt(0) === "/") {
        var link = document.createElement("a");
        link.href = source.url;
        link.textContent = label;
        item.appendChild(link);
      } else {
        item.textContent = label;
      }
      list.appendChild(item);
    });
    section.appendChild(title);
    section.appendChild(list);
    bubble.insertBefore(section, bubble.querySelector(".message-foot") || bubble.querySelector(".message-versions"));
  }

  /* A finished reply's footer, from the message as the server sent it. */
  function fillFoot(bubble, message) {
    var foot = bubble.querySelector(".message-foot");
    if (!foot) {
      var template = document.getElementById("reply-foot-template");
      if (!template) { return; }
      foot = template.content.firstElementChild.cloneNode(true);
      Array.prototype.forEach.call(foot.querySelectorAll("form"), function (form) {
        form.setAttribute("action", replaceMessageId(form.getAttribute("action"), message.id));
        form.setAttribute("data-stream-post", replaceMessageId(form.getAttribute("data-stream-post"), message.id));
      });
      bubble.insertBefore(foot, bubble.querySelector(".message-versions")); // null: at the end
    }
    foot.hidden = false;
    var model = typeof message.model === "string" ? message.model : "";
    var label = foot.querySelector(".model-label");
    if (label) {
      label.hidden = !model;
      label.querySelector(".model-label__name").textContent = model;
      label.querySelector(".model-label__demo").hidden = !model || model !== strings.demoModel;
    }
    var delivered = message.status === "ok" || message.status === "stopped";
    var cut = message.finish_reason === "length" && message.status === "ok";
    var cutNote = foot.querySelector(".message-cut");
    if (cutNote) { cutNote.hidden = !cut; }
    var copyButton = foot.querySelector("[data-copy-reply]");
    if (copyButton) { copyButton.hidden = false; }
    var continueForm = foot.querySelector("[data-reply-action=continue]");
    if (continueForm) { continueForm.hidden = !cut; }
    var regenerateForm = foot.querySelector("[data-reply-action=regenerate]");
    if (regenerateForm) { regenerateForm.hidden = !delivered; }
    if (typeof message.content === "string") { setSource(bubble, message.content); }
  }

  /* After Regenerate or Continue, what only the page knows: the earlier versions under
   * the new reply (the old bubble goes, unless the page still shows it as the current
   * reply), and why the rest of a continued reply could not be written. */
  function syncReply(page, t) {
    var bubble = t.bubble;
    var stored = bubble && bubble.id ? page.getElementById(bubble.id) : null;
    if (stored && t.kind === "continue") {
      var note = bubble.querySelector(".message-error");
      if (note) { note.remove(); }
      var storedNote = stored.querySelector(".message-error");
      if (storedNote) { bubble.insertBefore(document.importNode(storedNote, true), bubble.querySelector(".message-foot")); }
      return;
    }
    if (stored) {
      var versions = stored.querySelector(".message-versions");
      var current = bubble.querySelector(".message-versions");
      if (current) { current.remove(); }
      if (versions) { bubble.appendChild(document.importNode(versions, true)); }
    }
    var old = t.replaced;
    if (old && old.parentNode) {
      if (old.id && page.getElementById(old.id) && !stored) { old.hidden = false; }
      else { old.remove(); }
    }
  }

  /* --- Events ----------------------------------------------------------------- */

  function onStart(t, data) {
    var message = (data && data.message) || {};
    if (message.id == null) { return; }
    var first = t.id == null; // a resume starts again with the same message
    t.id = message.id;
    if (first && t.userBubble && data.user_message) {
      t.userBubble.id = "message-" + data.user_message.id;
      t.userBubble.classList.remove("message--sending");
      if (typeof data.user_message.content_html === "string") {
        bodyOf(t.userBubble).innerHTML = data.user_message.content_html; // escaped by the server
      }
    }
    if (first && t.own) {
      if (box && t.kind === "message") { box.value = ""; } // stored now: it is in the conversation
      refreshFromPage();
    }
    if (retryForm) { retryForm.hidden = true; }
    var bubble = t.bubble || document.getElementById("message-" + message.id);
    if (!bubble) {
      bubble = newBubble("coach-bubble-template");
      if (!bubble) { return; }
      bubble.id = "message-" + message.id;
      var replaced = message.replaces != null ? document.getElementById("message-" + message.replaces) : null;
      if (replaced) {
        // Regenerated: the new reply takes the old one's place.
        conversation.insertBefore(bubble, replaced);
        replaced.hidden = true;
        t.replaced = replaced;
      } else {
        conversation.appendChild(bubble);
      }
      bubble.scrollIntoView({ block: "nearest" });
    }
    t.bubble = bubble;
    var foot = bubble.querySelector(".message-foot");
    if (foot) { foot.hidden = true; } // continued: back when the rest is written
    dropReplyActions(t.kind === "continue" ? bubble : null);
    setBubbleStatus(bubble, "streaming");
    if (t.kind === "continue" || (!t.text && !bodyOf(bubble).textContent.trim())) {
      setStatusLine(bubble, strings.waiting);
    }
    if (stopButton && turn === t) { stopButton.disabled = false; }
  }

  function onDelta(t, data, id) {
    if (!t.bubble || !data) { return; }
    var piece = typeof data.text === "string" ? data.text : "";
    var end = id != null && id !== "" ? Number(id) : NaN;
    if (isFinite(end)) {
      // `id` is the reply's length after this piece: the piece starts at end - its length.
      var chars = Array.from(t.text);
      var start = end - Array.from(piece).length;
      t.text = start >= 0 && start <= chars.length ? chars.slice(0, start).join("") + piece : t.text + piece;
      t.lastId = String(end);
    } else {
      t.text += piece;
    }
    var body = bodyOf(t.bubble);
    if (typeof data.html === "string") {
      body.innerHTML = data.html; // the server's sanitised HTML of the whole reply so far
    } else {
      body.textContent = t.text;
    }
    if (t.text || body.textContent.trim()) {
      t.bubble.classList.add("is-writing");
      setStatusLine(t.bubble, strings.writing);
    }
  }

  function onDone(t, message) {
    if (!t.bubble || !message) { finish(t); return; }
    var body = bodyOf(t.bubble);
    if (typeof message.content_html === "string") {
      body.innerHTML = message.content_html; // sanitised by the server
    } else if (typeof message.content === "string") {
      body.textContent = message.content;
    }
    setStatusLine(t.bubble, "");
    var status = message.status || "ok";
    setBubbleStatus(t.bubble, status);
    if (status === "stopped" && !t.bubble.querySelector(".message-note")) {
      addNote(t.bubble, "message-note", strings.stopped);
    }
    if (t.bubble.classList.contains("message--assistant")) {
      if (message.id == null) { message.id = t.id; }
      fillSources(t.bubble, message);
      fillFoot(t.bubble, message);
      t.bubble.classList.remove("message--failed", "bubble--failed");
    }
    finish(t);
  }

  function onError(t, data) {
    data = data || {};
    var status = data.status === "interrupted" ? "interrupted" : "failed";
    if ((t.kind === "continue" || data.status === "ok") && t.bubble) {
      // The reply stays delivered, with what came of the rest, and can be continued again.
      setStatusLine(t.bubble, "");
      setBubbleStatus(t.bubble, "ok");
      fillFoot(t.bubble, { id: t.id, status: "ok", finish_reason: "length", model: t.model, content: t.text });
      showErrors([typeof data.detail === "string" && data.detail ? data.detail : strings.actionFailed]);
      finish(t);
      return;
    }
    if (t.bubble) {
      setStatusLine(t.bubble, "");
      setBubbleStatus(t.bubble, status);
      t.bubble.classList.add("message--failed", "bubble--failed");
      var written = bodyOf(t.bubble).textContent.trim();
      var text = status === "interrupted" ? strings.interrupted
        : (written ? strings.failedPartial : strings.failedEmpty);
      if (isOwner && typeof data.detail === "string" && data.detail) { text += " " + data.detail; }
      addNote(t.bubble, "message-error bubble__error", text, "alert");
    } else if (typeof data.detail === "string") {
      showErrors([data.detail]);
    }
    finish(t);
    if (isOwner && retryForm) { retryForm.hidden = false; }
  }

  function dispatch(t, type, data, id) {
    if (t.finished) { return; }
    if (type === "start") { onStart(t, data); }
    else if (type === "delta") { onDelta(t, data, id); }
    else if (type === "done") { onDone(t, data); }
    else if (type === "error") { onError(t, data); }
  }

  function finish(t) {
    if (t.finished) { return; }
    t.finished = true;
    if (t.source) { t.source.close(); }
    if (t.controller) { t.controller.abort(); }
    if (turn === t) {
      turn = null;
      setBusy(false);
      if (t.own && box) { box.focus(); }
    }
    if (isOwner) { refreshFromPage(t.replaced || t.kind === "continue" ? t : null); }
  }

  /* --- Reading a POST's event stream ------------------------------------------- */

  function parseBlock(block) {
    var type = "message";
    var data = [];
    var id = null;
    block.split("\n").forEach(function (line) {
      if (!line || line.charAt(0) === ":") { return; } // a comment: `: ping`
      var colon = line.indexOf(":");
      var field = colon < 0 ? line : line.slice(0, colon);
      var value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.charAt(0) === " ") { value = value.slice(1); }
      if (field === "event") { type = value; }
      else if (field === "data") { data.push(value); }
      else if (field === "id") { id = value; }
    });
    return data.length ? { type: type, data: parseJSON(data.join("\n")), id: id } : null;
  }

  function read(t, reader) {
    var decoder = new TextDecoder();
    var buffer = "";
    function take(text) {
      // Lines end in \n, \r\n or \r; a \r at the very end may be half of a \r\n.
      buffer = (buffer + text).replace(/\r\n|\r(?!$)/g, "\n");
      var blocks = buffer.split("\n\n");
      buffer = blocks.pop();
      blocks.forEach(function (block) {
        var event = parseBlock(block);
        if (event) { dispatch(t, event.type, event.data, event.id); }
      });
    }
    function pump() {
      return reader.read().then(function (result) {
        if (t.finished) { reader.cancel().catch(noop); return; }
        if (result.done) {
          take(decoder.decode() + "\n\n");
          if (!t.finished) { lost(t); } // ended without done or error
          return;
        }
        take(decoder.decode(result.value, { stream: true }));
        if (t.finished) { reader.cancel().catch(noop); return; }
        return pump();
      });
    }
    return pump();
  }

  /* The connection broke before the turn ended. */
  function lost(t) {
    if (t.finished) { return; }
    if (t.id == null) {
      // Nothing said the message was stored: it stays in the box to send again.
      if (t.userBubble) { t.userBubble.remove(); }
      t.finished = true;
      if (turn === t) { turn = null; setBusy(false); }
      showErrors([t.kind === "message" ? strings.sendFailed : strings.actionFailed]);
      if (retryForm && t.wasRetry) { retryForm.hidden = false; }
      return;
    }
    if (t.bubble) { setStatusLine(t.bubble, strings.reconnecting); }
    follow(t, streamUrl(t.id, t.lastId));
  }

  /* Follow a turn with EventSource; it reconnects by itself, sending Last-Event-ID. */
  function follow(t, url) {
    var source = new EventSource(url);
    t.source = source;
    ["start", "delta", "done"].forEach(function (type) {
      source.addEventListener(type, function (event) {
        dispatch(t, type, parseJSON(event.data), event.lastEventId || null);
      });
    });
    // Our `error` event and the connection's own error share the name: only ours has data.
    source.addEventListener("error", function (event) {
      if (typeof event.data === "string") {
        dispatch(t, "error", parseJSON(event.data), null);
        return;
      }
      if (t.finished) { return; }
      if (source.readyState === EventSource.CLOSED) {
        if (t.bubble) { setStatusLine(t.bubble, strings.lost); }
        t.finished = true;
        if (turn === t) { turn = null; setBusy(false); }
      } else if (t.bubble) {
        setStatusLine(t.bubble, strings.reconnecting);
      }
    });
  }

  /* --- Sending ---------------------------------------------------------------- */

  function post(url, body, options) {
    var t = {
      id: null, bubble: options.bubble || null, text: options.text || "", lastId: null,
      finished: false, source: null, controller: new AbortController(), own: true,
      userBubble: options.userBubble || null, wasRetry: !!options.retry,
      kind: options.kind || "message", replaced: null, model: options.model || ""
    };
    turn = t;
    clearErrors();
    setBusy(true);
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "text/event-stream",
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken()
      },
      body: body,
      signal: t.controller.signal
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.status === 200 && type.indexOf("text/event-stream") === 0 && response.body) {
        return read(t, response.body.getReader());
      }
      if (response.ok) {
        window.location.reload(); // answered without a stream: the page shows it
        return;
      }
      return refused(t, response);
    }).catch(function () {
      if (!t.finished) { lost(t); }
    });
  }

  /* Refused before the model was asked (400, 403, 409, 429...): say why, keep the text. */
  function refused(t, response) {
    return response.text().then(function (text) {
      var texts = errorTexts(parseJSON(text));
      if (!texts.length) {
        texts = [t.kind !== "message" ? strings.actionFailed
          : (response.status >= 500 ? strings.serverError : strings.sendFailed)];
      }
      if (t.userBubble) { t.userBubble.remove(); }
      t.finished = true;
      if (turn === t) { turn = null; setBusy(false); }
      showErrors(texts);
      if (response.status === 429) { refreshFromPage(); }
      if (t.wasRetry && retryForm && response.status !== 409) { retryForm.hidden = false; }
      if (box) { box.focus(); }
    });
  }

  function send(event) {
    event.preventDefault();
    if (turn) { return; }
    var content = box.value.trim();
    var userBubble = null;
    if (content) {
      userBubble = newBubble("user-bubble-template");
      if (userBubble) {
        var paragraph = document.createElement("p");
        paragraph.className = "user-text__pending";
        paragraph.textContent = content;
        bodyOf(userBubble).appendChild(paragraph);
        conversation.appendChild(userBubble);
      }
    }
    post(messageForm.getAttribute("data-stream-post"), JSON.stringify({ content: box.value }),
      { userBubble: userBubble });
  }

  function retry(event) {
    event.preventDefault();
    if (turn) { return; }
    retryForm.hidden = true;
    post(retryForm.getAttribute("data-stream-post"), null, { retry: true, kind: "retry" });
  }

  /* Continue or Regenerate on the last reply (a form in its footer). */
  function replyAction(event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-reply-action]")) { return; }
    event.preventDefault();
    if (turn) { return; }
    var kind = form.getAttribute("data-reply-action");
    var bubble = form.closest(".message");
    var options = { kind: kind };
    if (kind === "continue" && bubble) {
      // The rest streams into this reply: its deltas count on from the text already there.
      options.bubble = bubble;
      options.text = sourceOf(bubble);
      var name = bubble.querySelector(".model-label__name");
      options.model = name ? name.textContent : "";
    }
    post(form.getAttribute("data-stream-post"), null, options);
  }

  function stop() {
    var t = turn;
    if (!t || t.id == null || t.finished) { return; }
    stopButton.disabled = true;
    if (t.bubble) { setStatusLine(t.bubble, strings.stopping); }
    fetch(stopUrl(t.id), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() }
    }).then(function (response) {
      if (response.status === 200) {
        // Stopped: the message as stored (the stream's `done` says the same).
        return response.json().then(function (message) {
          if (message && message.status && message.status !== "streaming") { dispatch(t, "done", message, null); }
        });
      }
      if (response.status === 202 || response.status === 409) {
        return; // stopping, or already over: the stream's last event says how it ended
      }
      return response.text().then(function (text) {
        var texts = errorTexts(parseJSON(text));
        if (texts.length) { showErrors(texts); }
        if (!t.finished) {
          stopButton.disabled = false;
          if (t.bubble) { setStatusLine(t.bubble, t.text ? strings.writing : strings.waiting); }
        }
      });
    }).catch(function () {
      if (!t.finished) { stopButton.disabled = false; }
    });
  }

  /* --- Start ------------------------------------------------------------------- */

  if (messageForm && box) {
    messageForm.addEventListener("submit", send);
    if (stopButton) { stopButton.addEventListener("click", stop); }
  }
  if (retryForm) {
    retryForm.addEventListener("submit", retry);
  }
  if (isOwner) {
    conversation.addEventListener("submit", replyAction);
  }

  // Replies the server rendered while they were being written.
  Array.prototype.forEach.call(conversation.querySelectorAll("[data-stream-url]"), function (bubble) {
    var id = (bubble.id || "").replace(/^message-/, "");
    var t = {
      id: id, bubble: bubble, text: "", lastId: null, finished: false, source: null,
      controller: null, own: false, userBubble: null, wasRetry: false, kind: "follow",
      replaced: null, model: ""
    };
    if (bodyOf(bubble).textContent.trim()) { bubble.classList.add("is-writing"); }
    turn = t;
    follow(t, bubble.getAttribute("data-stream-url"));
  });
  if (turn) { setBusy(true); }
})();
