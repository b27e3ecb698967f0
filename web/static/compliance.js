// The audit log's filter form swaps the results block in place (htmx). A filter value the server refuses
// (400, with a message) is shown in that block too, instead of being dropped as htmx does with errors.
"use strict";
document.addEventListener("htmx:beforeSwap", function (event) {
  var target = event.detail && event.detail.target;
  if (target && target.id === "audit-results" && event.detail.xhr && event.detail.xhr.status === 400) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
