"""How long does `pdec check` take? Every row of the GenPhys table in one process, and cold CLI calls.

Targets (issue 2): all rows in one process < 2 s; one cold `pdec check` call < 1.5 s (2-core machine).
Writes benchmarks/results/check_speed.md.

    python benchmarks/check_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "data" / "genphys_table.yaml"


def in_process(rows) -> tuple[float, dict[str, float]]:
    code = (
        "import time, json, sys, yaml\n"
        "t0 = time.perf_counter()\n"
        "from pdec import compile_pde\n"
        "t1 = time.perf_counter()\n"
        "per = {}\n"
        "for r in yaml.safe_load(open(sys.argv[1])):\n"
        "    a = time.perf_counter(); compile_pde(r['expr']).to_json(); per[r['name']] = time.perf_counter() - a\n"
        "print(json.dumps({'import': t1 - t0, 'rows': time.perf_counter() - t1, 'per': per}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(TABLE)], capture_output=True, text=True, check=True)
    import json

    res = json.loads(out.stdout)
    return res["import"] + res["rows"], res["per"] | {"(import pdec)": res["import"]}


def cold_cli(expr: str) -> float:
    exe = Path(sys.executable).with_name("pdec")
    cmd = [str(exe), "check", expr] if exe.exists() else [sys.executable, "-m", "pdec.cli", "check", expr]
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "check_speed.md")
    args = ap.parse_args()
    rows = yaml.safe_load(TABLE.read_text())
    totals, pers = [], []
    for _ in range(args.repeats):
        total, per = in_process(rows)
        totals.append(total)
        pers.append(per)
    colds = [cold_cli("phi_tt + lap(phi) - m**2*phi") for _ in range(args.repeats)]
    med = statistics.median
    lines = [
        "# `pdec check` speed",
        "",
        f"Command: `python benchmarks/check_speed.py --repeats {args.repeats}`  ",
        f"Date: {datetime.date.today()}; machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()}; load average at start "
        f"{os.getloadavg()[0]:.1f} (other processes share the cores)",
        "",
        "| what | median (s) | min (s) | target (s) |",
        "|---|---|---|---|",
        f"| all {len(rows)} table rows in one process (incl. `import pdec`) | {med(totals):.3f} "
        f"| {min(totals):.3f} | 2.0 |",
        f"| one cold `pdec check \"phi_tt + lap(phi) - m**2*phi\"` | {med(colds):.3f} | {min(colds):.3f} | 1.5 |",
        "",
        "Per row (median over repeats, seconds):",
        "",
        "| row | s |",
        "|---|---|",
    ]
    for name in pers[0]:
        lines.append(f"| {name} | {med(p[name] for p in pers):.3f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
