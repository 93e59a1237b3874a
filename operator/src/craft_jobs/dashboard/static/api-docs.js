// Swagger UI for /api/docs. "Try it out" sends the dashboard session cookie;
// X-Requested-By passes the CSRF check for unsafe methods (see deps.py).
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  const host = document.getElementById("swagger-ui");
  if (!host || typeof SwaggerUIBundle === "undefined") return;
  window.ui = SwaggerUIBundle({
    url: host.dataset.spec,
    domNode: host,
    deepLinking: true,
    tryItOutEnabled: false,
    requestInterceptor: (request) => {
      request.headers["X-Requested-By"] = "craft-jobs-api-docs";
      return request;
    },
  });
});
