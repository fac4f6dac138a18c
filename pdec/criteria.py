"""GenPhys' conditions: C1 (a density flow with p >= 0) and C2 (solutions get smoother).

C2: Im omega(k) < Im omega(0) for every k > 0 on the dominant kept branch (Im omega = Re s).
  yes: for every k > 0 and every positive parameter value; no: fails on an unbounded set of k;
  conditional: fails on a bounded band of k only, or only for some parameter values.
  The kept branches (DESIGN.md section 5, pdec.branches) are followed along k; the ends k -> 0 and
  k -> infinity are decided by the leading terms of the Puiseux series of Re s(k) - Re s(0)
  (pdec.asymptotics), a k-grid decides what lies between (tolerance relative to the size of the roots);
  a single closed-form kept branch is also proved by SymPy where it can.
C1: the flow (p, v, R) exists with p real, and the point-source density is non-negative: yes when
  the kernel is a Gaussian scale mixture (positive in every dimension), conditional when positivity
  needs a regime (a parameter range, a bounded t, large damping), no for complex coefficients,
  signed kernels or no kernel at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from .branches import BranchAnalysis, analyse
from .dispersion import Dispersion, probe_values
from .kernel import Kernel
from .numfmt import exact_and_decimal
from .pde import PDE, k

Verdict = str  # "yes" | "no" | "conditional"

@dataclass(frozen=True)
class Criterion:
    """A verdict with its one-sentence reason; ``band`` is the failing k-band (C2), ``decided_by``
    says whether SymPy proved it ("symbolic"), the series and the grid decided it ("series"), or a
    numerical check did ("numeric")."""

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


@dataclass(frozen=True)
class _Probe:
    """C2 for one set of parameter values: does it hold, does it fail on an unbounded set of k, and
    the failing k-range [lo, hi] (lo = 0: it fails near k = 0; hi = inf: at arbitrarily high k)."""

    holds: bool
    unbounded: bool
    lo: float | None
    hi: float | None
    analysis: BranchAnalysis


def _judge(a: BranchAnalysis) -> _Probe:
    """Re s(k) < Re s(0) on the kept branches: the series decide k -> 0 and k -> infinity (and the grid
    points where g - g0 is below its tolerance, next to either end), the grid what lies between."""
    if a.n_kept == 0 or a.unbounded0:
        return _Probe(False, True, 0.0, np.inf, a)
    delta = a.g - a.g0
    fail = np.where(np.isfinite(delta), delta > a.tol, True)
    unresolved = np.isfinite(delta) & (np.abs(delta) <= a.tol)
    for side, lead in ((slice(None), a.small), (slice(None, None, -1), a.large)):
        run = np.cumprod(unresolved[side]).astype(bool)  # unresolved points joined to this end
        verdict = (lead.sign != -1) if lead.sign is not None else (delta[side] >= 0)
        fail[side] = np.where(run, verdict, fail[side])
        unresolved[side] &= ~run
    fail |= unresolved  # |g - g0| at round-off level between resolved points: not strictly smaller
    below = a.small.sign != -1 if a.small.sign is not None else bool(fail[0])
    above = a.large.sign != -1 if a.large.sign is not None else bool(fail[-1])
    if not (fail.any() or below or above):
        return _Probe(True, False, None, None, a)
    idx = np.flatnonzero(fail)
    lo = 0.0 if below else float(a.kk[idx[0]])
    hi = np.inf if above else float(a.kk[idx[-1]])
    return _Probe(False, bool(above), lo, hi, a)


def _asymptotics_text(a: BranchAnalysis) -> str:
    return (f"Re s(k) - Re s(0) ~ {a.small.text()} as k -> 0 and ~ {a.large.text()} as k -> oo "
            f"(Puiseux series), checked on k in [{a.kk[0]:.0e}, {a.kk[-1]:.0e}] between")


def c2(pde: PDE, disp: Dispersion, kernel: Kernel | None) -> Criterion:
    """C2: Im omega(k) < Im omega(0) for all k > 0 on the dominant kept branch (DESIGN.md section 5)."""
    probes = probe_values(pde.params)
    symbolic = False
    if kernel is not None and len(kernel.kept) == 1:
        sj = kernel.kept[0]
        delta = sp.simplify(sp.re(sp.expand_complex(sj - sj.subs(k, 0))))
        symbolic = bool(delta.is_negative)
    judged = [_judge(analyse(sp.expand(disp.P.subs(v)))) for v in probes]
    results = [(r.holds, r.unbounded, r.lo, r.hi) for r in judged]
    holds = [r[0] for r in results]
    # where SymPy proves Re(s(k) - s(0)) < 0 the proof decides; the series and the grid confirm it
    if symbolic and all(h or not unb for h, unb, _, _ in results):
        holds = [True] * len(results)
    decided = "symbolic" if symbolic else "series"
    if all(holds):
        detail = _asymptotics_text(judged[0].analysis) if len(probes) == 1 else \
            "Puiseux series at k -> 0 and k -> oo, a k-grid between, for every probed parameter value"
        return Criterion("yes", "every mode k > 0 decays faster than the mass (Im omega(k) < Im omega(0)): "
                         + detail + (" and proved by SymPy" if symbolic else ""), None, decided)
    if not any(holds) and all(r[1] for r in results):
        a = judged[0].analysis
        if a.n_kept == 0:
            why = "no kept branch: a branch grows without bound at high k and none decays"
        elif a.unbounded0:
            why = ("a kept branch is infinite at k = 0, where the coefficient of the highest time derivative "
                   "vanishes, so Im omega(0) is not a growth rate")
        else:
            why = f"Re s(k) - Re s(0) ~ {a.large.text()} as k -> oo"
        return Criterion("no", "modes of arbitrarily high k do not decay relative to k = 0 "
                         f"(Im omega(k) >= Im omega(0) on an unbounded set of k: {why})", ("0", "oo"), "series")
    # conditional: a bounded band, or only some parameter values
    bounded = [r for r in results if not r[0] and not r[1]]
    band = None
    regime = None
    if bounded and len(bounded) == len([r for r in results if not r[0]]):
        edges = [e for sj in disp.s for e in _band_edges(sj)]
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
        hi_s = sp.sstr(hi) if hi is not None else _fmt(max(r[3] for r in bounded))
        hi_text = exact_and_decimal(hi) if hi is not None else hi_s
        band = ("0", hi_s)
        regime = f"small {hi_s}" if hi is not None and len(hi.free_symbols) == 1 else None
        reason = (f"modes with 0 < k < {hi_text} do not decay relative to k = 0; higher modes do, so the "
                  f"PDE is generative when that band is small")
    else:
        good = [v for v, r in zip(probes, results) if r[0]]
        bad = [v for v, r in zip(probes, results) if not r[0]]
        regime = _regime_text(good, bad)
        reason = "C2 holds for some parameter values only: " + regime
        if bounded:
            band = ("0", _fmt(max(r[3] for r in bounded)))
    return Criterion("conditional", reason, band, "series", regime)


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
        tb = exact_and_decimal(kernel.t_max_bound)
        return Criterion("conditional", f"p >= 0 needs t < {tb}: {note}", decided_by="symbolic",
                         regime=f"t < {tb}")
    if kernel.positive is None:
        regime = None
        if kernel.t_min is not None:
            regime = f"t >= {exact_and_decimal(kernel.t_min)}"
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
