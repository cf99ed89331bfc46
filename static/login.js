// Renders WeChat's inline QR code with the options the server put in the page
// (kept out of inline script so the page can run under a strict CSP).
(function () {
  var el = document.getElementById("wx-login-options");
  if (!el || typeof WxLogin !== "function") { return; }
  new WxLogin(JSON.parse(el.textContent));
  // wxLogin.js adds an iframe without a title: name it after the box, so a
  // screen reader says what the frame is.
  var box = document.getElementById("wx-qr"), frame = box && box.querySelector("iframe");
  if (frame && !frame.title) { frame.title = box.getAttribute("aria-label") || ""; }
})();
