// The countdown to an incident's first public update: each [data-deadline] element counts
// down to its deadline (Unix seconds, from the server), against the server's clock as of
// page load (data-now), so a browser with a wrong clock still shows the right time left.
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function span(seconds) {
    var s = Math.floor(seconds);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return (h ? h + ":" + pad(m) : m) + ":" + pad(s % 60);
  }

  function start() {
    var els = document.querySelectorAll("[data-deadline]");
    if (!els.length) return;
    var loaded = Date.now() / 1000;
    function tick() {
      var elapsed = Date.now() / 1000 - loaded;
      els.forEach(function (el) {
        var left = Number(el.dataset.deadline) - (Number(el.dataset.now) + elapsed);
        el.classList.toggle("overdue", left <= 0);
        el.textContent = left > 0 ? span(left) + " left to post an update"
                                  : "update overdue by " + span(-left);
      });
    }
    tick();
    setInterval(tick, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
