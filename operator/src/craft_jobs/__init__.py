"""Craft Jobs: background job processing for Kubernetes, on PostgreSQL."""

__version__ = "0.1.0"
