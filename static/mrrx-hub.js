/* MRRX subscription hub: progress while an action runs, and closing mrrx.js's modal. */
(function () {
  "use strict";
  var hub = document.getElementById("mrrx-hub");
  if (!hub) { return; }
  if (hub.getAttribute("data-busy")) {
    // Polling replaces the no-script refresh: the page reloads once, when it is done.
    var meta = document.querySelector("meta[http-equiv=refresh]");
    if (meta) { meta.parentNode.removeChild(meta); }
    var url = hub.getAttribute("data-status-url");
    var poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          if (body.busy) { setTimeout(poll, 700); } else { window.location.reload(); }
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    setTimeout(poll, 500);
  }
  var back = document.getElementById("back");
  if (back && window.parent && window.parent !== window) {
    // Inside mrrx.js's modal: closing it is going back to the merchant's page.
    back.addEventListener("click", function (event) {
      event.preventDefault();
      window.parent.postMessage({ type: "mrrx:hub_close" }, "*");
    });
  }
})();
