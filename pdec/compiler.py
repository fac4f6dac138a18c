"""compile_pde: the whole pipeline, every stage's output kept for inspection.

Stages (each a module with one job and a frozen result):

    text | SymPy expr --parse--> PDE            (pdec.parse, pdec.pde)
        --dispersion-->  branches omega_j(k)     (pdec.dispersion)
        --kernel-->      p^(k, t), M(t), law of S_t   (pdec.kernel)
        --criteria-->    C1, C2, verdict          (pdec.criteria)
        --flow-->        (p, v, R), verified      (pdec.flow)
        --green-->       real-space Green function (pdec.green)

Parameter values (``params``) are substituted exactly (rationals) before the analysis; the PDE as
written is kept in ``source``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from . import criteria as _criteria
from .dispersion import Dispersion, dispersion, probe_values
from .errors import InvalidPDEError, ParameterError, PdecError
from .flow import Flow, density_flow, display
from .kernel import Kernel, derive_kernel, operator_parts
from .pde import PDE, N, S, k


@dataclass(frozen=True)
class Green:
    """The Green function: its Fourier form (normalised kernel q) and real-space closed form (or None)."""

    fourier: sp.Expr | None
    real: sp.Expr | None


@dataclass(frozen=True)
class Compiled:
    """Every stage of the compilation of one PDE."""

    source: PDE
    pde: PDE
    values: tuple[tuple[sp.Symbol, sp.Expr], ...]
    dim: int | None
    augment_dim: int | None
    dispersion: Dispersion
    kernel: Kernel | None
    c1: _criteria.Criterion
    c2: _criteria.Criterion
    verdict: str
    flow: Flow | None
    green: Green
    timings: dict[str, float] = field(default_factory=dict)
    text: str = ""

    @property
    def s_generative(self) -> str:
        return self.verdict

    @property
    def flow_note(self) -> str:
        """What a source term R != 0 means for the model (DESIGN.md section 5)."""
        if self.flow is None or self.flow.R == 0 or self.kernel is None:
            return ""
        return (f"R = {display(self.flow.R)} is not zero: the mass M(t) = {sp.sstr(self.kernel.mass)} is not "
                "conserved, so the model transports the normalised kernel q = p/M; its velocity is not the "
                "physical v = J/p")

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of ``pdec check --json``."""
        vals = dict(self.values)
        kern = None
        if self.kernel is not None:
            kern = {
                "fourier": sp.sstr(self.kernel.fourier),
                "mass": sp.sstr(self.kernel.mass),
                "law": str(self.kernel.law) if self.kernel.law is not None else None,
                "positive": self.kernel.positive,
                "regime": self.kernel.regime,
                "normalised": sp.sstr(self.kernel.q),
                "t_max": sp.sstr(self.kernel.t_max_bound) if self.kernel.t_max_bound is not None else None,
                "note": self.kernel.note,
            }
        c2j = self.c2.to_json()
        c2j["band"] = list(self.c2.band) if self.c2.band else None
        return {
            "pde": self.text or display(self.source.expr),
            "pde_canonical": self.source.text,
            "params": {p.name: (_num(vals[p]) if p in vals else None) for p in self.source.params},
            "dim": self.dim,
            "augment_dim": self.augment_dim,
            "order_t": int(self.pde.order_t),
            "dispersion": [sp.sstr(w) for w in self.dispersion.omega] if self.dispersion.exact else
            [f"numeric: roots of {sp.sstr(self.dispersion.P.subs(S, -sp.I * sp.Symbol('omega')))} = 0"],
            "dispersion_exact": self.dispersion.exact,
            "c1": self.c1.to_json(),
            "c2": c2j,
            "s_generative": self.verdict,
            "flow": (self.flow.as_text() | {"sign": self.flow.sign, "note": self.flow_note})
            if self.flow is not None else None,
            "kernel": kern,
            "green": {"fourier": sp.sstr(self.green.fourier) if self.green.fourier is not None else None,
                      "real": sp.sstr(self.green.real) if self.green.real is not None else None},
            "timings_s": {key: round(v, 4) for key, v in self.timings.items()},
        }


def _num(v: sp.Expr) -> float | int:
    v = sp.sympify(v)
    return int(v) if v.is_Integer else float(v)


def _values(pde: PDE, params: dict | None) -> dict:
    """Map user parameter values (numbers or numeric strings) to exact SymPy numbers."""
    out = {}
    known = {p.name: p for p in pde.params}
    for name, raw in (params or {}).items():
        if name not in known:
            have = ", ".join(sorted(known)) or "none"
            raise ParameterError(f"{name} is not a parameter of this PDE (its parameters: {have})")
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str, sp.Basic)):
            raise ParameterError(f"the value of {name} must be a positive number, got {raw!r}")
        from .parse import parse_value

        val = parse_value(repr(raw) if isinstance(raw, float) else raw) if isinstance(raw, (str, float)) \
            else sp.sympify(raw)  # floats exactly through their shortest repr
        if not (val.is_number and val.is_positive and val.is_finite):
            raise ParameterError(f"the value of {name} must be a positive finite number, got {raw!r}")
        out[known[name]] = val
    return out


def _as_pde(expr) -> PDE:
    if isinstance(expr, PDE):
        return expr
    if isinstance(expr, str):
        from .parse import parse_pde

        return parse_pde(expr)
    if isinstance(expr, (sp.Basic, int)):
        return PDE.from_expr(sp.sympify(expr))
    raise InvalidPDEError(f"compile_pde takes a string or a SymPy expression, not {type(expr).__name__}")


def _sign(pde: PDE, kernel: Kernel | None) -> int:
    """The sign s that makes the point-source potential phi positive (so p = s A[phi] has mass +1)."""
    A, _, _ = operator_parts(pde.symbol)
    if kernel is not None and kernel.regime == "elliptic":
        v = probe_values(pde.params)[0]
        a = complex(A.subs(S, kernel.kept[0]).subs(v).subs(k, 10))
        return 1 if a.real > 0 else -1
    lead = sp.Poly(A, S).LC() if A.has(S) else A
    val = complex(sp.sympify(lead).subs(probe_values(pde.params)[0]))
    return 1 if val.real >= 0 else -1


def _green(kernel: Kernel | None, dim: int | None) -> Green:
    if kernel is None:
        return Green(None, None)
    from . import green as _g

    Nsym = dim if dim else N
    real = None
    try:
        if kernel.law is not None and kernel.law.name != "Sum":
            real = _g.green_real(kernel.law.name, dict(kernel.law.params), Nsym)
        elif kernel.t_max_bound is not None and kernel.regime == "elliptic":
            k0 = _helmholtz_k0(kernel)
            if k0 is not None:
                real = _g.green_helmholtz(k0, Nsym)
    except (PdecError, ValueError, TypeError, NotImplementedError):
        real = None
    return Green(kernel.q, real)


def _helmholtz_k0(kernel: Kernel):
    """k0 when the kept branch is -c sqrt(k^2 - k0^2) (Helmholtz), else None."""
    for pw in kernel.kept[0].atoms(sp.Pow):
        if pw.exp == sp.Rational(1, 2) and pw.base.is_polynomial(k):
            poly = sp.Poly(pw.base, k)
            if poly.degree() == 2 and poly.coeff_monomial(1).is_negative:
                return sp.sqrt(-poly.coeff_monomial(1) / poly.coeff_monomial(k**2))
    return None


def compile_pde(expr, params: dict | None = None, dim: int | None = None,
                augment_dim: int | None = None) -> Compiled:
    """Compile a linear constant-coefficient PDE (text or SymPy expression) through every stage."""
    clock = time.perf_counter
    timings: dict[str, float] = {}
    t0 = clock()
    source = _as_pde(expr)
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= 10**6):
        raise ParameterError(f"dim must be an integer between 1 and 10^6, got {dim!r}")
    if augment_dim is not None and (isinstance(augment_dim, bool) or not isinstance(augment_dim, (int, np.integer))
                                    or not 1 <= augment_dim <= 10**7):
        raise ParameterError(f"augment_dim must be an integer between 1 and 10^7, got {augment_dim!r}")
    values = _values(source, params)
    pde = source.subs(values)
    timings["parse"] = clock() - t0
    t0 = clock()
    disp = dispersion(pde)
    timings["dispersion"] = clock() - t0
    t0 = clock()
    kernel, why = derive_kernel(pde, disp, augment_dim=augment_dim, dim=dim)
    timings["kernel"] = clock() - t0
    t0 = clock()
    crit2 = _criteria.c2(pde, disp, kernel)
    crit1 = _criteria.c1(pde, kernel, why, dim)
    verdict = _criteria.overall(crit1.verdict, crit2.verdict)
    timings["criteria"] = clock() - t0
    t0 = clock()
    flow = None
    if not pde.symbol.has(sp.I):
        flow = density_flow(pde, _sign(pde, kernel), augment_dim)
    timings["flow"] = clock() - t0
    t0 = clock()
    green = _green(kernel, dim)
    timings["green"] = clock() - t0
    return Compiled(source=source, pde=pde, values=tuple(values.items()), dim=dim, augment_dim=augment_dim,
                    dispersion=disp, kernel=kernel, c1=crit1, c2=crit2, verdict=verdict, flow=flow,
                    green=green, timings=timings, text=" ".join(expr.split()) if isinstance(expr, str) else "")


__all__ = ["Compiled", "Green", "compile_pde"]
