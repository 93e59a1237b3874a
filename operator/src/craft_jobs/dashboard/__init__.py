"""The dashboard: REST API, server-rendered pages, auth, /metrics (see docs/dashboard.md)."""
