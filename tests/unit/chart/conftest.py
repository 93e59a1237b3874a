"""Renders the Helm chart with the real helm binary (offline: lint and template).

helm comes from .tools/bin (scripts/install-tools.sh puts it there; the
session fixture runs that script when it is missing).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "craft-jobs"
VALUES_DIR = Path(__file__).resolve().parent / "values"
HELM = ROOT / ".tools" / "bin" / "helm"
NAMESPACE = "craft"
RELEASE = "cj"

# None is the chart's own values.yaml; the others are overlays on top of it.
VALUE_FILES = [None, *sorted(p.name for p in VALUES_DIR.glob("*.yaml"))]

Manifest = dict[str, Any]


@pytest.fixture(scope="session", autouse=True)
def helm() -> Path:
    if not HELM.exists():
        subprocess.run([str(ROOT / "scripts" / "install-tools.sh")], check=True, cwd=ROOT)
    assert HELM.exists(), "scripts/install-tools.sh did not install helm"
    return HELM


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=60)


def value_args(values: str | Path | None, extra: Iterable[str] = ()) -> list[str]:
    args = []
    if values is not None:
        path = values if isinstance(values, Path) else VALUES_DIR / values
        args += ["-f", str(path)]
    for item in extra:
        args += ["--set", item]
    return args


@cache
def _render(values: str | None, extra: tuple[str, ...], include_crds: bool, release: str) -> str:
    args = ["template", release, str(CHART), "--namespace", NAMESPACE, *value_args(values, extra)]
    if include_crds:
        args.append("--include-crds")
    result = run_helm(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def render_text(values: str | None = None, *extra: str, include_crds: bool = False, release: str = RELEASE) -> str:
    return _render(values, tuple(extra), include_crds, release)


def render(values: str | None = None, *extra: str, include_crds: bool = False, release: str = RELEASE) -> list[Manifest]:
    text = render_text(values, *extra, include_crds=include_crds, release=release)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str, name_suffix: str = "") -> Manifest:
    found = [m for m in of_kind(manifests, kind) if m["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, found {[m['metadata']['name'] for m in found]}"
    return found[0]


def container(manifests: list[Manifest], component: str) -> Manifest:
    kind = "Job" if component == "migrate" else "Deployment"
    (c,) = one(manifests, kind, f"-{component}")["spec"]["template"]["spec"]["containers"]
    return c


def env_of(c: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


@pytest.fixture
def render_with(tmp_path: Path) -> Callable[[dict[str, Any]], subprocess.CompletedProcess[str]]:
    """helm template with values given as a dict (written to a file, so any string survives)."""

    def _run(values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        return run_helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "-f", str(path))

    return _run
