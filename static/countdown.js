// Counts down the resend button's wait; the server enforces the cooldown anyway.
(function () {
  var b = document.getElementById("resend"), s = document.getElementById("resend-wait");
  if (!b) { return; }
  var left = parseInt(b.getAttribute("data-wait"), 10) || 0;
  if (left <= 0) { return; }
  var t = setInterval(function () {
    left--;
    if (left <= 0) { clearInterval(t); b.disabled = false; s.textContent = ""; return; }
    s.textContent = " (" + left + "s)";
  }, 1000);
})();
