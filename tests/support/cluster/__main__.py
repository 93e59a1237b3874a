"""`python -m tests.support.cluster build|up|down [--dir D]`: the local control plane for developers.

`up` starts it in the background and writes `<dir>/kubeconfig`; `down` stops
it and removes `<dir>`. `build` only builds the binaries (once per machine).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from tests.support.cluster.controlplane import ControlPlane, ControlPlaneError, ensure_binaries

DEFAULT_DIR = Path(".craft-jobs/cluster")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "up", "down"))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"where its data goes (default {DEFAULT_DIR})")
    args = parser.parse_args()
    directory = args.dir.resolve()
    try:
        if args.command == "build":
            print(ensure_binaries())
        elif args.command == "up":
            if (directory / "state.json").exists():
                print(f"a control plane is already up in {directory}: make cluster-down first", file=sys.stderr)
                return 1
            plane = ControlPlane(directory, detached=True).start()
            print(f"control plane up at {plane.server}\nexport KUBECONFIG={plane.kubeconfig}")
        else:
            if (directory / "state.json").exists():
                ControlPlane.attach(directory).stop()
            shutil.rmtree(directory, ignore_errors=True)
            print(f"control plane down; {directory} removed")
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
