// Counts down the wait before "send again", in the words the server used
// (data-units: i18n.Units; data-fmt: the sentence with %s). The wait comes
// from the server's own counters, so the button turns on when a send would
// be accepted; the server enforces the limits anyway. The visible text
// changes every second, so it is no live region (a screen reader would read
// out every second); its end is announced once, in #resend-ready.
(function () {
  var b = document.getElementById("resend"), s = document.getElementById("resend-wait");
  if (!b || !s) { return; }
  var left = parseInt(b.getAttribute("data-wait"), 10) || 0;
  if (left <= 0) { return; }
  var units = JSON.parse(b.getAttribute("data-units") || "{}"), fmt = b.getAttribute("data-fmt") || "%s";
  function unit(n, u) { var f = units[u] || ["%d", "%d"]; return (n === 1 ? f[0] : f[1]).replace("%d", n); }
  function say(secs) {
    if (secs < 60) { return unit(secs, "s"); }
    var mins = Math.ceil(secs / 60);
    if (mins < 60) { return unit(mins, "m"); }
    var h = Math.floor(mins / 60), m = mins % 60;
    return unit(h, "h") + (m > 0 ? " " + unit(m, "m") : "");
  }
  var t = setInterval(function () {
    left--;
    if (left <= 0) {
      clearInterval(t); b.disabled = false; s.textContent = "";
      var ready = document.getElementById("resend-ready");
      if (ready) { ready.textContent = b.getAttribute("data-ready") || ""; }
      return;
    }
    var text = fmt.replace("%s", say(left));
    if (s.textContent !== text) { s.textContent = text; }
  }, 1000);
})();
