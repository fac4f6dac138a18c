"""Speed of Kernel.perturb per law, as a ratio to torch.randn of the same shape (target <= 1.3).

N = 3072 (CIFAR-10), batch 256, float32 on the CPU. Times t come from EDM's training distribution
ln sigma ~ N(-1.2, 1.2^2) through t = sigma_inv(sigma) (computed once; its cost per batch is reported
in its own column). randn and perturb are timed interleaved, the median over repeats is reported.
Writes benchmarks/results/kernel_speed.md.

    python benchmarks/kernel_speed.py [--repeats 30] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pdec.runtime.kernel import Kernel  # noqa: E402
from pdec.runtime.laws import GIG, Deterministic, InverseGamma, InverseGaussian, Stable, Sum  # noqa: E402

LAWS = [
    ("diffusion (EDM)", Deterministic(1.0)),
    ("Poisson, PFGM (D = 1)", InverseGamma(1, 1.0)),
    ("PFGM++ D = 128", InverseGamma(128, 1.0)),
    ("PFGM++ D = 10^6", InverseGamma(1e6, 1.0)),
    ("fractional diffusion alpha = 1.5", Stable(1.5, 1.0)),
    ("Yukawa m = 1", InverseGaussian(1.0, 1.0)),
    ("Yukawa m = 1, D = 128 (GIG)", GIG(128, 1.0, 1.0)),
    ("diffusion + Yukawa (Sum)", Sum(Deterministic(0.5), InverseGaussian(1.0, 1.0))),
]


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _repeat(fn, n: int = 10) -> None:
    for _ in range(n):  # each result is dropped before the next call, as in a training loop
        fn()


def _cpu(fn) -> float:
    """CPU time of this process (all its threads): insensitive to other processes taking the cores."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def run(threads: int, B: int, N: int, repeats: int) -> list[dict]:
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    y = torch.randn(B, N, generator=g)
    sig = torch.exp(-1.2 + 1.2 * torch.randn(B, generator=g))
    rows = []
    setups = []
    for name, law in LAWS:
        kern = Kernel(law)
        t = kern.sigma_inv(sig)
        inv = statistics.median(_time(lambda law=law: law.sigma_inv(sig)) for _ in range(3))
        kern.perturb(y, t, g)  # warm-up (quadrature caches)
        setups.append((name, kern, t, inv))
    times = {name: ([], [], [], [], []) for name, *_ in setups}
    t64 = {name: t.double() for name, _k, t, _i in setups}
    for _ in range(repeats):
        for name, kern, t, _inv in setups:
            times[name][0].append(_time(lambda: torch.randn(B, N, generator=g)))
            times[name][1].append(_time(lambda kern=kern, t=t: kern.perturb(y, t, g)))
            times[name][2].append(_time(lambda kern=kern, name=name: kern.law.sample_with_rate(t64[name], g)))
        for name, kern, t, _inv in setups:  # CPU time needs longer runs (its clock ticks are coarse)
            times[name][3].append(_cpu(lambda: _repeat(lambda: torch.randn(B, N, generator=g))))
            times[name][4].append(_cpu(lambda kern=kern, t=t: _repeat(lambda: kern.perturb(y, t, g))))
    for name, kern, _t, inv in setups:
        r, p, sc, rc, pc = (statistics.median(v) for v in times[name])
        rmin, pmin = min(times[name][0]), min(times[name][1])
        rows.append({"name": name, "law": repr(kern.law), "randn": r, "perturb": p, "ratio": p / r,
                     "ratio_min": pmin / rmin, "ratio_cpu": pc / rc, "scalars": sc, "sigma_inv": inv})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", default=str(torch.get_num_threads()), help="comma-separated thread counts")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dim", type=int, default=3072)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "kernel_speed.md")
    args = ap.parse_args()
    cmd = "python benchmarks/kernel_speed.py " + " ".join(sys.argv[1:])
    lines = [
        "# Kernel.perturb speed",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Date: {datetime.date.today()}; machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; Python {platform.python_version()}, torch {torch.__version__}; "
        f"load average at start {os.getloadavg()[0]:.1f} (other processes share the cores)",
        "",
        f"Batch {args.batch} x N = {args.dim}, float32, CPU. `perturb` = S_t and dS_t/dt (float64 scalars), "
        "one randn of the batch, x = y + sqrt(S) xi, u = (dS/dt)/(2S)(x - y). Ratio = median(perturb) / "
        "median(randn), timed interleaved (wall clock), the same with minima, and with the process's CPU time "
        "(10 calls per sample; the last two are less sensitive to other processes on the machine). "
        "Target ratio <= 1.3. `S, dS/dt only` times law.sample_with_rate for the batch (wall clock). "
        "`sigma_inv` is the time to map the batch's 256 sigmas to times (done once per batch in training).",
        "",
    ]
    for threads in (int(x) for x in args.threads.split(",")):
        rows = run(threads, args.batch, args.dim, args.repeats)
        lines += [
            f"## torch threads = {threads}",
            "",
            "| kernel | law | randn (ms) | perturb (ms) | ratio (medians) | ratio (minima) | ratio (CPU time) "
            "| S, dS/dt only (ms) | sigma_inv (ms) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(f"| {r['name']} | `{r['law']}` | {1e3 * r['randn']:.2f} | {1e3 * r['perturb']:.2f} | "
                         f"{r['ratio']:.2f} | {r['ratio_min']:.2f} | {r['ratio_cpu']:.2f} | "
                         f"{1e3 * r['scalars']:.2f} | {1e3 * r['sigma_inv']:.1f} |")
        floor = rows[0]
        lines += [
            "",
            f"Reading (threads = {threads}): the diffusion kernel draws no scalar, so its ratio "
            f"({floor['ratio_min']:.2f} minima, {floor['ratio_cpu']:.2f} CPU time) is the floor set by the [B, N] work "
            "every kernel shares: perturb returns two new [B, N] tensors (x and u: one randn, one fused "
            "addcmul, one in-place multiply) where randn returns one. What a law adds on top is its "
            "`S, dS/dt only` column. The CPU-time ratio also counts the page faults of the second [B, N] "
            "output whenever glibc hands freed memory back to the system (its trim heuristics depend on the "
            "allocation pattern: 10 perturbs in a row trigger it here); the wall-clock minima are the "
            "closer estimate of the arithmetic.",
            "",
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
