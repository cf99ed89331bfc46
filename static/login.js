// Renders WeChat's inline QR code with the options the server put in the page
// (kept out of inline script so the page can run under a strict CSP).
(function () {
  var el = document.getElementById("wx-login-options");
  if (!el || typeof WxLogin !== "function") { return; }
  new WxLogin(JSON.parse(el.textContent));
})();
