/*
 * MRRX embed: opens a cancellation session, or the subscription hub, in a modal on the
 * merchant's page.
 *
 *   <script src="https://mrrx.example.com/static/mrrx.js"></script>
 *   MRRX.open(session.url, { onComplete: function (result) { ... } });
 *   MRRX.openHub(hubSession.url, { onClose: function () { ... } });
 *
 * When the subscriber finishes a cancellation session, the result token is verified with
 * MRRX (POST /api/v1/results/verify) and onComplete receives the trusted outcome.
 * The hub stays open while the customer works in it (a cancellation started there comes
 * back to it); onClose runs when they close it, the moment to reload what you show of
 * their subscriptions (GET /api/v1/hub_sessions/<id> lists what they did).
 */
(function (global) {
  "use strict";
  function origin(url) { var a = document.createElement("a"); a.href = url; return a.protocol + "//" + a.host; }

  function modal(url) {
    var overlay = document.createElement("div");
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-label", "Manage your subscription");
    overlay.style.cssText = "position:fixed;inset:0;background:rgba(17,24,39,.6);z-index:2147483647;display:flex;align-items:center;justify-content:center";
    var frame = document.createElement("iframe");
    frame.src = url;
    frame.title = "Manage your subscription";
    frame.style.cssText = "width:min(560px,100vw);height:min(760px,100vh);border:0;border-radius:12px;background:#fff";
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "\u00d7";
    close.setAttribute("aria-label", "Close");
    close.style.cssText = "position:absolute;top:12px;right:16px;font-size:28px;background:none;border:0;color:#fff;cursor:pointer";
    overlay.appendChild(frame);
    overlay.appendChild(close);
    document.body.appendChild(overlay);
    return { overlay: overlay, frame: frame, close: close };
  }

  function open(url, options) {
    options = options || {};
    var mrrxOrigin = origin(url);
    var parts = modal(url);
    var overlay = parts.overlay, frame = parts.frame, close = parts.close;

    function teardown() {
      window.removeEventListener("message", onMessage);
      if (overlay.parentNode) { overlay.parentNode.removeChild(overlay); }
    }
    function onMessage(event) {
      if (event.origin !== mrrxOrigin || !event.data || event.data.type !== "mrrx:result") { return; }
      fetch(mrrxOrigin + "/api/v1/results/verify", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: event.data.result_token })
      })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          teardown();
          if (res.ok && options.onComplete) { options.onComplete(res.body); }
          if (!res.ok && options.onError) { options.onError(res.body); }
        })
        .catch(function (err) { teardown(); if (options.onError) { options.onError(err); } });
    }
    close.addEventListener("click", function () { teardown(); if (options.onClose) { options.onClose(); } });
    window.addEventListener("message", onMessage);
    frame.focus();
    return { close: teardown };
  }

  function openHub(url, options) {
    options = options || {};
    var mrrxOrigin = origin(url);
    var parts = modal(url);
    var overlay = parts.overlay, frame = parts.frame, close = parts.close;

    function teardown() {
      window.removeEventListener("message", onMessage);
      if (overlay.parentNode) { overlay.parentNode.removeChild(overlay); }
    }
    function closed() {
      teardown();
      if (options.onClose) { options.onClose(); }
    }
    function onMessage(event) {
      if (event.origin !== mrrxOrigin || !event.data) { return; }
      if (event.data.type === "mrrx:hub_close") { closed(); return; }
      if (event.data.type === "mrrx:result") {
        // A cancellation flow started in the hub has finished: it goes back to the hub
        // (its return URL) inside the modal, where the result is shown.
        var back = String(event.data.return_url || "");
        if (back.indexOf(mrrxOrigin + "/h/") === 0) { frame.src = back; } else { closed(); }
      }
    }
    close.addEventListener("click", closed);
    window.addEventListener("message", onMessage);
    frame.focus();
    return { close: teardown };
  }

  global.MRRX = { open: open, openHub: openHub };
})(window);
