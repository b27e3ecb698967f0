// Vraagbaak's only script of its own (no inline scripts: the Content-Security-Policy forbids them).
// Areas add small, separate behaviours below; everything works without JavaScript too.
"use strict";

// ---- ask page (employee) -------------------------------------------------------------------
// The answer streams over server-sent events (htmx-ext-sse). A stream can be opened once: when it
// fails, it is not retried; the block says so and the question can be asked again.
document.addEventListener("htmx:sseError", function (event) {
  var block = event.target;
  if (!block || !block.hasAttribute || !block.hasAttribute("sse-connect")) { return; }
  if (event.detail && event.detail.source) { event.detail.source.close(); }
  block.removeAttribute("sse-connect");  // the extension's retry finds nothing to reconnect
  block.setAttribute("aria-busy", "false");
  var message = document.createElement("p");
  message.className = "error";
  message.setAttribute("role", "alert");
  message.textContent = block.getAttribute("data-failed") || "";
  block.replaceChildren(message);
});

// After a question is sent, the field is emptied for the next one (the question stays visible
// above its answer) and keeps the focus.
document.addEventListener("htmx:afterRequest", function (event) {
  var form = event.detail && event.detail.elt;
  if (!form || form.id !== "ask-form" || !event.detail.successful) { return; }
  var field = document.getElementById("question");
  if (field) { field.value = ""; field.focus(); }
});

// Over a rate limit (429) the server answers with an error fragment that says when to try again; htmx
// drops error responses, so it is swapped in like an answer.
document.addEventListener("htmx:beforeSwap", function (event) {
  if (event.detail && event.detail.xhr && event.detail.xhr.status === 429) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
