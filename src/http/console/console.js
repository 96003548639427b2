// The console's only script. The server draws every panel; this swaps in
// the live panels it streams (Server-Sent Events) and keeps their clocks
// counting between updates. Without it the pages still work: the live
// panels then show the state at load.
(function () {
  "use strict";

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // 0:42, 12:05, 1:02:05 (the server writes the same).
  function elapsed(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s >= 3600) {
      return Math.floor(s / 3600) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
    }
    return Math.floor(s / 60) + ":" + pad(s % 60);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time.clock[data-since]").forEach(function (t) {
      var since = Number(t.getAttribute("data-since"));
      if (since > 0) {
        t.textContent = elapsed(now - since);
      }
    });
  }

  function follow(panel) {
    if (!window.EventSource) {
      return;
    }
    var source = new EventSource(panel.getAttribute("data-live"));
    source.addEventListener("panel", function (e) {
      panel.innerHTML = e.data;
      panel.setAttribute("data-updated", String(Date.now()));
      tick();
    });
  }

  document.querySelectorAll("[data-live]").forEach(follow);
  window.setInterval(tick, 1000);
})();
