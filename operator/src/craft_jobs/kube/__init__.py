"""Kubernetes integration: kopf handlers, admission webhooks, the Job manifest
builder and the Kubernetes executor. See docs/operator.md."""
