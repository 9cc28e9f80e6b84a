/* MRRX hosted flow: progress polling, and handing the result to an embedding page. */
(function () {
  "use strict";
  var progress = document.getElementById("mrrx-progress");
  if (progress) {
    var url = progress.getAttribute("data-status-url");
    var poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          if (body.done) { window.location.reload(); } else { setTimeout(poll, 700); }
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    setTimeout(poll, 500);
  }
  if (window.parent && window.parent !== window) {
    // Inside mrrx.js's modal, a redirect offer leads the whole page to the merchant's
    // page (the form's answer is that page), not the modal's frame.
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
      form.addEventListener("submit", function () {
        var chosen = form.querySelector("input[name=action]:checked");
        form.target = chosen && chosen.value === "redirect" ? "_top" : "";
      });
    });
  }
  var result = document.getElementById("mrrx-result");
  if (result && window.parent && window.parent !== window) {
    // Inside mrrx.js's modal: tell the merchant's page instead of navigating away.
    var returnUrl = result.getAttribute("data-return-url");
    var hash = returnUrl.split("#result_token=")[1] || "";
    var tell = function () {
      window.parent.postMessage({
        type: "mrrx:result",
        session_id: result.getAttribute("data-session-id"),
        outcome: result.getAttribute("data-outcome"),
        result_token: hash,
        return_url: returnUrl
      }, "*");
    };
    var meta = document.querySelector("meta[http-equiv=refresh]");
    if (meta) { meta.parentNode.removeChild(meta); }
    var back = document.getElementById("continue");
    if (result.hasAttribute("data-on-continue") && back) {
      // A message for the subscriber to read (a contact offer's): the modal closes when
      // they choose to go back, not at once.
      back.addEventListener("click", function (event) { event.preventDefault(); tell(); });
    } else {
      tell();
    }
  }
})();
