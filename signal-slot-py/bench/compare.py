"""Runs the workloads on several interpreters (each with its own ``signal_slot``: the original in one virtual
environment, this package in another), interleaved run by run, and prints the medians side by side.

    python compare.py --python original=/path/to/venv-a/bin/python --python this=/path/to/venv-b/bin/python

``--load N`` keeps N CPU-bound programs (``yes``) running beside every timed run, at normal priority.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_N = {"W1": 20_000, "W2": 200_000, "W2b": 200_000, "W3": 100_000, "W4": 2_000}


def run(python, system, workload, placement, n, timeout):
    command = [python, str(HERE / "workloads.py"), "--workload", workload, "--placement", placement]
    command += ["--n", str(n), "--runs", "1", "--system", system, "--timeout", str(timeout)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout * 3 + 30).stdout
        return json.loads(out.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, IndexError, json.JSONDecodeError):
        return dict(system=system, workload=workload, placement=placement, n=n, value=None, unit="failed")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", action="append", required=True, help="name=interpreter")
    parser.add_argument("--workloads", default="W1,W2,W2b,W3,W4")
    parser.add_argument("--placements", default="thread,process")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--load", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every N")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--json", action="store_true", help="also print every run as a JSON line")
    args = parser.parse_args()
    systems = [tuple(spec.split("=", 1)) for spec in args.python]

    busy = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(args.load)]
    try:
        rows = []
        for workload in args.workloads.split(","):
            for placement in args.placements.split(","):
                n = max(int(DEFAULT_N[workload] * args.scale), 1000)
                values = {name: [] for name, _ in systems}
                unit = None
                for _ in range(args.runs):
                    for name, python in systems:
                        record = run(python, name, workload, placement, n, args.timeout)
                        if args.json:
                            print(json.dumps(record), flush=True)
                        values[name].append(record["value"])
                        unit = unit if record["value"] is None else record["unit"]
                rows.append((workload, placement, unit, values))
                cells = []
                for name, _ in systems:
                    done = [v for v in values[name] if v is not None]
                    failed = len(values[name]) - len(done)
                    median = statistics.median(done) if done else None
                    cells.append(f"{name} {median:,.0f}" if median is not None else f"{name} failed")
                    if failed:
                        cells[-1] += f" ({failed} of {len(values[name])} failed)"
                medians = [statistics.median([v for v in values[n] if v is not None] or [0]) for n, _ in systems]
                ratio = f"{medians[-1] / medians[0]:.1f}x" if len(systems) > 1 and medians[0] else ""
                print(f"{workload:4} {placement:8} {unit or '':14} " + " | ".join(cells) + f" | {ratio}", flush=True)
    finally:
        for p in busy:
            p.kill()
            p.wait()


if __name__ == "__main__":
    sys.exit(main())
