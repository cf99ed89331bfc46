// CAS method=POST: send the ticket to the service as a form post.
(function () { var f = document.getElementById("post-redirect"); if (f) { f.submit(); } })();
