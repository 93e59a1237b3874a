"""Strict field validation, as `kubectl apply` does it: a field the CRD's
schema does not declare is an error naming it, not silently dropped.

The schemas are the CRDs shipped in this package (kube/crds/, byte-identical to
the repository's crds/, which a test checks)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

CRD_DIR = Path(__file__).parent / "crds"
CRD_FILES = {"BackgroundJob": "backgroundjobs.jobs.craft.dev.yaml", "RecurringJob": "recurringjobs.jobs.craft.dev.yaml"}


@functools.cache
def crd_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((CRD_DIR / CRD_FILES[kind]).read_text())
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def unknown_fields(kind: str, document: dict[str, Any]) -> list[str]:
    """Dotted paths of the fields in `document` that its CRD does not declare."""
    found: list[str] = []

    def visit(value: Any, node: dict[str, Any], path: str) -> None:
        if node.get("x-kubernetes-preserve-unknown-fields"):
            return
        if isinstance(value, dict) and "properties" in node:
            for key, child in value.items():
                where = f"{path}.{key}" if path else str(key)
                if key in node["properties"]:
                    visit(child, node["properties"][key], where)
                else:
                    found.append(where)
        elif isinstance(value, dict) and isinstance(node.get("additionalProperties"), dict):
            for key, child in value.items():
                visit(child, node["additionalProperties"], f"{path}.{key}")
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for i, child in enumerate(value):
                visit(child, node["items"], f"{path}[{i}]")

    visit(document, crd_schema(kind), "")
    return found
