"""Differential check of pdec's C2 against an independent numeric oracle, on random PDEs.

    python benchmarks/c2_oracle.py [--n 40] [--seed 0] [--out benchmarks/results/c2_oracle.md]

The random PDEs are constant-coefficient, up to third order in t and biharmonic in x:
    sum_j (a_j + b_j lap + c_j lap^2) d^j phi / dt^j = 0,  the top order a pure a_n d^n phi / dt^n,
so that the dispersion polynomial P(S, k) = sum_j (a_j - b_j k^2 + c_j k^4) S^j is built here from the
coefficients, not by pdec. The oracle (written for this check, sharing no code with pdec) takes numpy's
polynomial roots on a k grid, follows each root from k = 1e5 down by nearest neighbours, keeps the
branches as DESIGN.md section 5 says (first order: the only one; some branch grows at high k: the ones
that decay; otherwise all), and compares max Re s over the kept ones with its value at k = 0:
yes (smaller at every k > 0), no (not smaller at the high end) or conditional (a bounded failing set).
Where g(k) - g(0) is below round-off (|.| < 1e-11 of the roots), the grid points next to an end take
the sign of the nearest resolved point (the leading term continues to the end) when that run is short
(it ends below k = 0.05 or starts above k = 20); a longer run is a band where g(k) = g(0), so C2 fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: the oracle's k grid
KK = np.geomspace(1e-5, 1e5, 2001)
#: where round-off runs at the ends stop being the leading term (see oracle_c2)
K_SHORT = 0.05


@dataclass(frozen=True)
class RandomPDE:
    """sum_j (a[j] + b[j] lap + c[j] lap^2) d^j phi/dt^j = 0 (b[n] = c[n] = 0)."""

    a: tuple[int, ...]
    b: tuple[int, ...]
    c: tuple[int, ...]

    @property
    def order(self) -> int:
        return len(self.a) - 1

    def text(self) -> str:
        """pdec input text."""
        parts = []
        for j in range(self.order, -1, -1):
            f = "phi" if j == 0 else "phi_" + "t" * j
            for coef, op in ((self.a[j], f), (self.b[j], f"lap({f})"), (self.c[j], f"lap(lap({f}))")):
                if coef:
                    parts.append(f"{'-' if coef < 0 else '+'} {abs(coef)}*{op}")
        s = " ".join(parts)
        return s[2:] if s.startswith("+ ") else "-" + s[2:]

    def coeffs(self, kk: np.ndarray) -> np.ndarray:
        """Coefficients of P(S, k) in S, highest first: [order + 1, len(kk)]."""
        k2 = np.asarray(kk, dtype=float) ** 2
        return np.array([self.a[j] - self.b[j] * k2 + self.c[j] * k2**2 for j in range(self.order, -1, -1)])


def random_pde(rng: np.random.Generator) -> RandomPDE:
    """A random PDE: order 1..3 in t, each lower-order coefficient nonzero with probability 1/2 (in -3..3)."""
    while True:
        n = int(rng.integers(1, 4))
        a, b, c = [0] * (n + 1), [0] * (n + 1), [0] * (n + 1)
        a[n] = int(rng.choice([-3, -2, -1, 1, 2, 3]))
        for j in range(n):
            for arr in (a, b, c):
                if rng.random() < 0.5:
                    arr[j] = int(rng.choice([-3, -2, -1, 1, 2, 3]))
        if any(b) or any(c):
            return RandomPDE(tuple(a), tuple(b), tuple(c))


def _roots(pde: RandomPDE, kk: np.ndarray) -> np.ndarray:
    cs = pde.coeffs(kk)
    return np.array([np.roots(cs[:, i]) for i in range(kk.size)]).T  # [n, K]


def _follow(roots: np.ndarray) -> np.ndarray:
    """Greedy nearest-neighbour continuation from the last column down to the first."""
    out = roots.copy()
    for i in range(out.shape[1] - 2, -1, -1):
        prev, free = out[:, i + 1], list(out[:, i])
        col = []
        for p in prev:
            j = int(np.argmin([abs(p - z) for z in free]))
            col.append(free.pop(j))
        out[:, i] = col
    return out


def oracle_c2(pde: RandomPDE) -> str:
    """yes / no / conditional, from numpy roots on KK (see the module docstring)."""
    n = pde.order
    rows = _follow(_roots(pde, KK))
    hi, lo = rows[:, -1].real, rows[:, int(np.argmin(np.abs(np.log10(KK) - 4)))].real  # k = 1e5 and 1e4
    if n == 1:
        kept = [0]
    else:
        grows = (hi > 0) & (hi > 2 * np.maximum(lo, 0)) & (hi > 1e-3 * np.abs(rows[:, -1]))
        decays = (hi < 0) & (hi < 2 * np.minimum(lo, 0)) & (-hi > 1e-3 * np.abs(rows[:, -1]))
        kept = list(np.flatnonzero(decays)) if grows.any() else list(range(n))
    if not kept:
        return "no"
    at0 = np.roots(pde.coeffs(np.array([0.0]))[:, 0])
    first = rows[:, 0]
    match = [int(np.argmin(np.abs(at0 - first[j]))) for j in range(n)]
    g0 = max(at0[match[j]].real for j in kept)
    g = rows[kept].real.max(axis=0)
    delta = g - g0
    zero = np.abs(delta) <= 1e-11 * (np.abs(rows).max(axis=0) + abs(g0))
    sign = np.where(zero, 0.0, np.sign(delta))
    resolved = np.flatnonzero(~zero)
    if resolved.size == 0:
        return "no"  # Re s(k) = Re s(0) everywhere: nothing decays relative to k = 0
    # a run at round-off next to an end is the leading power of k still below the tolerance only if it is
    # short (it ends below k = K_SHORT, starts above 1/K_SHORT); a longer one is a band where g(k) = g(0)
    if KK[resolved[0]] < K_SHORT:
        sign[: resolved[0]] = sign[resolved[0]]
    if KK[resolved[-1]] > 1 / K_SHORT:
        sign[resolved[-1] + 1:] = sign[resolved[-1]]
    fail = sign >= 0
    if not fail.any():
        return "yes"
    return "no" if fail[-1] else "conditional"


def pdec_c2(text: str) -> tuple[str, str]:
    """pdec's C2 verdict and reason."""
    from pdec import compile_pde

    res = compile_pde(text)
    return res.c2.verdict, res.c2.reason


def run(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pde = random_pde(rng)
        text = pde.text()
        t0 = time.perf_counter()
        verdict, reason = pdec_c2(text)
        rows.append({"i": i, "pde": text, "pdec": verdict, "oracle": oracle_c2(pde), "reason": reason,
                     "seconds": time.perf_counter() - t0})
    return rows


def report(rows: list[dict], n: int, seed: int, notes: dict[int, str] | None = None) -> str:
    agree = sum(r["pdec"] == r["oracle"] for r in rows)
    lines = [
        "# C2 against an independent numeric oracle",
        "",
        f"Command: `python benchmarks/c2_oracle.py --n {n} --seed {seed}`",
        "",
        f"**{agree} of {len(rows)} agree.** (Random constant-coefficient PDEs, up to third order in t and "
        "biharmonic in x; the oracle is numpy's roots on 2001 points of k in [1e-5, 1e5], followed by nearest "
        "neighbours, kept branches as in DESIGN.md section 5. See the script's docstring.)",
        "",
        "| # | PDE | pdec | oracle | s |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        mark = "" if r["pdec"] == r["oracle"] else " **differs**"
        lines.append(f"| {r['i']} | `{r['pde']}` | {r['pdec']} | {r['oracle']}{mark} | {r['seconds']:.2f} |")
    diff = [r for r in rows if r["pdec"] != r["oracle"]]
    lines += ["", "## Disagreements", ""]
    if not diff:
        lines.append("None.")
    for r in diff:
        lines.append(f"- #{r['i']} `{r['pde']}`: pdec says {r['pdec']}, the oracle {r['oracle']}. "
                     f"pdec's reason: {r['reason']}. " + (notes or {}).get(r["i"], ""))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    args = ap.parse_args(argv)
    rows = run(args.n, args.seed)
    text = report(rows, args.n, args.seed)
    if args.out:
        args.out.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
