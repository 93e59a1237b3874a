// Swagger UI for /api/docs. "Try it out" sends the dashboard session cookie,
// and for unsafe methods the page's CSRF token (the double-submit check in deps.py).
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  const host = document.getElementById("swagger-ui");
  if (!host || typeof SwaggerUIBundle === "undefined") return;
  const csrf = document.querySelector('meta[name="csrf-token"]');
  window.ui = SwaggerUIBundle({
    url: host.dataset.spec,
    domNode: host,
    deepLinking: true,
    requestInterceptor: (request) => {
      if (csrf && csrf.content) request.headers["X-CSRF-Token"] = csrf.content;
      return request;
    },
  });
});
