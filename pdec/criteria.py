"""GenPhys' conditions: C1 (a density flow with p >= 0) and C2 (solutions get smoother).

C2: Im omega(k) < Im omega(0) for every k > 0 on the dominant kept branch (Im omega = Re s).
  yes: for every k > 0 and every positive parameter value; no: fails on an unbounded set of k;
  conditional: fails on a bounded band of k only, or only for some parameter values.
  Decided symbolically where SymPy can, always confirmed on a grid of k and parameter values.
C1: the flow (p, v, R) exists with p real, and the point-source density is non-negative: yes when
  the kernel is a Gaussian scale mixture (positive in every dimension), conditional when positivity
  needs a regime (a parameter range, a bounded t, large damping), no for complex coefficients,
  signed kernels or no kernel at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from .dispersion import Dispersion, probe_values
from .kernel import Kernel
from .pde import PDE, k

Verdict = str  # "yes" | "no" | "conditional"

#: the k grid of the numerical C2 check (k = 0 is evaluated separately)
K_GRID = np.logspace(-3, 3, 601)


@dataclass(frozen=True)
class Criterion:
    """A verdict with its one-sentence reason; ``band`` is the failing k-band (C2), ``decided_by``
    says whether SymPy decided it ("symbolic") or the numeric grid did ("numeric")."""

    verdict: Verdict
    reason: str
    band: tuple[str, str] | None = None
    decided_by: str = "numeric"
    regime: str | None = None

    def to_json(self) -> dict:
        out = {"verdict": self.verdict, "reason": self.reason, "decided_by": self.decided_by}
        if self.regime:
            out["regime"] = self.regime
        return out


def _dominant_re(disp: Dispersion, branches: list[int], values: dict, kk: np.ndarray) -> np.ndarray:
    g = disp.numeric_s(values, kk).real
    return g[branches].max(axis=0)


def _band_edges(s_dom: sp.Expr) -> list[sp.Expr]:
    """Candidate symbolic band edges: the branch points (zeros of square-root arguments) in k."""
    out = []
    for pw in s_dom.atoms(sp.Pow):
        if pw.exp.is_Rational and not pw.exp.is_Integer and pw.base.has(k):
            for z in sp.solve(sp.Eq(pw.base, 0), k):
                if z.is_positive is not False:
                    out.append(z)
    return out


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def c2(pde: PDE, disp: Dispersion, kernel: Kernel | None) -> Criterion:
    """C2: Im omega(k) < Im omega(0) for all k > 0 on the dominant kept branch."""
    probes = probe_values(pde.params)
    if kernel is not None:
        branches = [disp.s.index(sj) for sj in kernel.kept]
    elif disp.exact:
        branches = list(range(len(disp.s)))
    else:
        branches = None
    symbolic = False
    if kernel is not None and len(kernel.kept) == 1:
        sj = kernel.kept[0]
        delta = sp.simplify(sp.re(sp.expand_complex(sj - sj.subs(k, 0))))
        symbolic = bool(delta.is_negative)
    results = []  # per probe: (holds, unbounded, lo, hi)
    for v in probes:
        if branches is None:
            g = disp.numeric_s(v, K_GRID).real.max(axis=0)
            g0 = disp.numeric_s(v, np.array([1e-9])).real.max()
        else:
            g = _dominant_re(disp, branches, v, K_GRID)
            g0 = _dominant_re(disp, branches, v, np.array([0.0]))[0]
        tol = 1e-12 * (1.0 + abs(g0))
        fail = ~(g < g0 - tol) | ~np.isfinite(g)
        if not fail.any():
            results.append((True, False, None, None))
        else:
            idx = np.flatnonzero(fail)
            results.append((False, bool(fail[-1]), K_GRID[idx[0]], K_GRID[idx[-1]]))
    holds = [r[0] for r in results]
    # where SymPy proves Re(s(k) - s(0)) < 0, numeric failures can only be underflow at small k
    # (k^20 < 1e-12 for k < 0.25): the proof decides, the grid only confirms where it resolves
    if symbolic and all(h or not unb for h, unb, _, _ in results):
        holds = [True] * len(results)
    decided = "symbolic" if symbolic else "numeric"
    if all(holds):
        return Criterion("yes", "every mode k > 0 decays faster than the mass (Im omega(k) < Im omega(0)); "
                         "checked on k in [1e-3, 1e3]" + ("" if decided == "numeric" else " and proved by SymPy"),
                         None, decided)
    if not any(holds) and all(r[1] for r in results):
        return Criterion("no", "modes of arbitrarily high k do not decay relative to k = 0 "
                         "(Im omega(k) >= Im omega(0) on an unbounded set of k)", ("0", "oo"), "numeric")
    # conditional: a bounded band, or only some parameter values
    bounded = [r for r in results if not r[0] and not r[1]]
    band = None
    regime = None
    if bounded and len(bounded) == len([r for r in results if not r[0]]):
        edges = _band_edges(disp.s[branches[0]]) if branches else []
        hi = None
        for e in edges:
            ok = True
            for v, r in zip(probes, results):
                if r[0]:
                    continue
                ev = complex(e.subs(v))
                if abs(ev.imag) > 1e-9 or abs(ev.real - r[3]) > 0.05 * max(1.0, abs(ev.real)):
                    ok = False
                    break
            if ok:
                hi = e
                break
        hi_s = sp.sstr(hi) if hi is not None else _fmt(bounded[0][3])
        band = ("0", hi_s)
        regime = f"small {hi_s}" if hi is not None and len(hi.free_symbols) == 1 else None
        reason = (f"modes with 0 < k < {hi_s} do not decay relative to k = 0; higher modes do, so the "
                  f"PDE is generative when that band is small")
    else:
        good = [v for v, r in zip(probes, results) if r[0]]
        bad = [v for v, r in zip(probes, results) if not r[0]]
        regime = _regime_text(good, bad)
        reason = "C2 holds for some parameter values only: " + regime
        if bounded:
            band = ("0", _fmt(max(r[3] for r in bounded)))
    return Criterion("conditional", reason, band, "numeric", regime)


def _regime_text(good: list[dict], bad: list[dict]) -> str:
    def show(vs):
        names = sorted({s.name for v in vs for s in v}, key=str)
        return "; ".join(", ".join(f"{n}={_fmt(float(v[next(s for s in v if s.name == n)]))}" for n in names)
                         for v in vs[:4])
    return f"holds for ({show(good)}), fails for ({show(bad)})"


def c1(pde: PDE, kernel: Kernel | None, no_kernel_reason: str, dim: int | None) -> Criterion:
    """C1: a real density flow whose point-source density is non-negative."""
    if pde.symbol.has(sp.I):
        return Criterion("no", "the PDE has complex coefficients, so p = s A[phi] is not a real density "
                         "(as for the Schroedinger equation)", decided_by="symbolic")
    if kernel is None:
        return Criterion("no", f"no point-source density: {no_kernel_reason}", decided_by="numeric")
    where = f"in N = {dim}" if dim else "in every dimension"
    note = kernel.note or ""
    if kernel.law is not None and kernel.positive:
        return Criterion("yes", f"the kernel is a Gaussian scale mixture (law of S_t: {kernel.law}), "
                         f"hence a probability density {where}", decided_by="symbolic")
    if kernel.law is not None and kernel.law.exact and kernel.positive is None:
        cond = sp.sstr(sp.simplify(kernel.law.condition))
        return Criterion("conditional", f"the kernel is a {kernel.law.name} law (a probability density) only "
                         f"when {cond}; otherwise it is signed", decided_by="symbolic", regime=cond)
    if kernel.positive is False:
        return Criterion("no", "the kernel changes sign, so it is not a probability path: "
                         + (note or "negative mass found in its real-space form"), decided_by="numeric")
    if kernel.t_max_bound is not None:
        tb = sp.sstr(kernel.t_max_bound)
        return Criterion("conditional", f"p >= 0 needs t < {tb}: {note}", decided_by="symbolic",
                         regime=f"t < {tb}")
    if kernel.positive is None:
        regime = None
        if kernel.t_min is not None:
            regime = f"t >= {sp.sstr(kernel.t_min)}"
            names = sorted(s.name for s in kernel.t_min.free_symbols)
            if names:
                regime = "large " + ", ".join(names) + f" ({regime})"
        return Criterion("conditional", "the kernel is a density only in a regime: " + note,
                         decided_by="numeric", regime=regime)
    return Criterion("yes", f"the kernel is non-negative {where} (numerical check of its real-space form)",
                     decided_by="numeric")


def overall(c1v: Verdict, c2v: Verdict) -> Verdict:
    """s-generative: yes iff both hold, no if either fails, conditional otherwise."""
    if "no" in (c1v, c2v):
        return "no"
    if c1v == c2v == "yes":
        return "yes"
    return "conditional"
