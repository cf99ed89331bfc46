// The "open in WeChat" page: focusing the login link selects it, ready to
// copy. A file, not an inline handler, because the page's CSP forbids those.
(function () {
  var input = document.getElementById("login-link");
  if (input) { input.addEventListener("focus", function () { input.select(); }); }
})();
