// Swaps an expired QR code for a new one: when the code's time is up the
// page goes to the URL the server gave (a new code for this login, or a new
// login once this one has ended), so nobody scans a dead code.
(function () {
  var el = document.getElementById("qr-expiry");
  if (!el) { return; }
  var after = parseInt(el.getAttribute("data-refresh-after"), 10) || 0, url = el.getAttribute("data-refresh-url");
  if (after <= 0 || !url) { return; }
  setTimeout(function () { window.location.replace(url); }, after * 1000);
})();
