"""`make proofs` (`python -m tests.proofs [--only NAME ...] [--list]`).

Starts a PostgreSQL of its own and, when a Kubernetes scenario is chosen,
the local control plane with the fault proxy; runs each scenario in turn
(a fresh database, namespace and operator or engines each); prints what each
one found, then the table, the defects with their evidence, and as the last
line one JSON object. Everything of a run stays in .craft-jobs/proofs/
(logs, work lines, result.json; the database of a scenario that found a
defect is kept too). The exit status is 1 when any scenario found a defect.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

from tests.proofs import report, scenarios_kube, scenarios_local
from tests.proofs.harness import run_scenario
from tests.proofs.kube import ProofCluster
from tests.proofs.postgres import ProofPostgres

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / ".craft-jobs" / "proofs"
ALL = scenarios_kube.SCENARIOS + scenarios_local.SCENARIOS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.proofs", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these scenarios only")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if args.list:
        for s in ALL:
            print(f"{s.name:28} {s.executor:10} {s.fault}")
        return 0
    chosen = [s for s in ALL if not args.only or s.name in args.only]
    unknown = set(args.only or ()) - {s.name for s in ALL}
    if unknown:
        parser.error(f"no such scenario: {', '.join(sorted(unknown))}")
    warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR notice, on every embedded start
    logging.basicConfig(level=logging.ERROR)

    started = time.monotonic()
    BASE.mkdir(parents=True, exist_ok=True)
    postgres = ProofPostgres(BASE / "postgres")
    cluster = None
    results = []
    try:
        postgres.start()
        if any(s.executor == "kubernetes" for s in chosen):
            print("starting the local control plane ...", flush=True)
            cluster = ProofCluster(BASE / "cluster")
            cluster.start()
        for scenario in chosen:
            print(f"[{time.monotonic() - started:6.1f} s] {scenario.name}: {scenario.fault}", flush=True)
            result = run_scenario(scenario, BASE / "runs", postgres,
                                  cluster if scenario.executor == "kubernetes" else None)
            results.append(result)
            verdict = "DEFECT" if result.defective else "ok"
            print(f"    {verdict}: lost {result.lost}, ran twice {result.ran_twice} ({result.rerun_after_loss} after a loss), "
                  f"overlapping {result.overlapping}, mismatches {result.mismatches}, recover {result.recover_s} s, "
                  f"{result.seconds:.0f} s", flush=True)
            for problem in result.problems:
                print(f"      {problem}", flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
        postgres.close()
    print()
    print(report.table(results))
    print(report.legend())
    for section in (report.defects(results), report.observations(results)):
        if section:
            print()
            print(section)
    print(f"\n{len(results)} scenarios in {time.monotonic() - started:.0f} s")
    print(report.json_line(results))
    return 1 if any(r.defective for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
