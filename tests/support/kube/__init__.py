"""Test support for the Kubernetes side: the API emulator harness and the Job-controller simulator."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CRD_DIR = ROOT / "crds"
