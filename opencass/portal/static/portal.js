// opencass portal: a dashboard reloads itself when what it shows has changed (a file answered,
// a dispute opened or answered, a close done, a document arrived).  Served from the portal
// itself: its Content-Security-Policy allows no other script.
(function () {
  "use strict";
  var body = document.body;
  var seen = body && body.getAttribute("data-version");
  if (!seen) { return; }
  var busy = false;
  function poll() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch("/changes", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        busy = false;
        if (data && data.version && data.version !== seen) {
          var active = document.activeElement;
          var typing = active && (active.tagName === "INPUT" || active.tagName === "SELECT") && active.value;
          if (!typing) { window.location.reload(); }
        }
      })
      .catch(function () { busy = false; });
  }
  window.setInterval(poll, 2000);
}());
