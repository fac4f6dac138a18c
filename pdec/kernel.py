"""The perturbation kernel: what a unit point source at t = 0 becomes, and the law behind it.

Each branch evolves as exp(s_j(k) t). Which branches are kept (DESIGN.md section 5):
- first order in time: the only branch, p^(k, t) = exp(s(k) t);
- elliptic (some branch grows without bound at high k: Poisson, Yukawa, third order): the
  branch that decays at high k, continued to all k, p^ = exp(s(k) t);
- hyperbolic (no branch grows: wave-like): all branches, with phi(0) = ... = 0 and p^(k, 0) = 1,
  p^ = sum_j A(s_j) exp(s_j t) / P_S(s_j), normalised at t = 0 (P = S A(S) + Lap B + c).
With ``augment_dim`` D (PFGM++), t is the radius of D extra dimensions and the decaying radial
solution gives p^ proportional to (w t)^(D/2) K_{D/2}(w t), w(k)^2 = c^2 (k^2 + m^2).

The mass is M(t) = p^(0, t); the model uses q = p^/M. When q(sqrt(2 lam), t) is completely monotone in
lam it is the Laplace transform of a law of S_t, and x = y + sqrt(S_t) xi (a Gaussian scale mixture).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from .dispersion import Dispersion, decays_at_high_k, grows_at_high_k, probe_values
from .errors import InvalidPDEError, NotGenerativeError, ParameterError
from .numfmt import exact_and_decimal
from .pde import FL, PDE, Lap, S, k, t


@dataclass(frozen=True)
class LawSpec:
    """A law of S_t named as in pdec/runtime/laws.py, with its parameters (symbols or numbers).

    ``condition``: where the parameters are symbolic, the condition under which the law exists
    (e.g. 0 < alpha <= 2 for a stable law); True when it always does.
    """

    name: str
    params: tuple[tuple[str, Any], ...] = ()
    components: tuple[LawSpec, ...] = ()
    exact: bool = True
    condition: Any = True

    def subs(self, values: dict) -> LawSpec:
        """The law with parameter values substituted."""
        return LawSpec(
            name=self.name,
            params=tuple((n, sp.sympify(v).subs(values)) for n, v in self.params),
            components=tuple(c.subs(values) for c in self.components),
            exact=self.exact,
            condition=sp.sympify(self.condition).subs(values),
        )

    @property
    def is_numeric(self) -> bool:
        return all(sp.sympify(v).is_number for _, v in self.params) and all(c.is_numeric for c in self.components)

    def numbers(self) -> dict[str, float]:
        """The parameters as floats (ParameterError when one is still symbolic)."""
        out = {}
        for n, v in self.params:
            v = sp.sympify(v)
            if not v.is_number:
                names = ", ".join(sorted(s.name for s in v.free_symbols))
                raise ParameterError(f"the kernel needs a value for {names} (--param {names}=... or params:)")
            out[n] = float(v)
        return out

    def to_source(self) -> str:
        """Python source that builds the runtime law, numbers printed with full precision (repr)."""
        if self.name == "Sum":
            return "Sum(" + ", ".join(c.to_source() for c in self.components) + ")"
        return f"{self.name}(" + ", ".join(f"{n}={v!r}" for n, v in self.numbers().items()) + ")"

    def build(self):
        """The runtime law object (imports torch; a Tabulated law is tabulated here, with SciPy)."""
        from .runtime import laws

        if self.name == "Tabulated":
            return _build_table(self.numbers())
        if self.name == "Sum":
            return laws.Sum(*(c.build() for c in self.components))
        return getattr(laws, self.name)(**self.numbers())

    def __str__(self) -> str:
        if self.name == "Sum":
            return " + ".join(str(c) for c in self.components)
        return f"{self.name}(" + ", ".join(f"{n}={sp.sstr(v)}" for n, v in self.params) + ")"


#: the largest dimension in which a radial law is tabulated
MAX_TABLE_DIM = 8
#: t grid density of a radial table (points per decade) and its range in units of the kernel's time scale
TABLE_PER_DECADE = 16


def _build_table(p: dict[str, float]):
    """The tabulated radial law (pdec.tabulate) of a dissipative wave or a Helmholtz kernel, cut to the
    times where its clipped negative mass is below tolerance."""
    from . import tabulate
    from .runtime.radial import Tabulated

    N = int(p["N"])
    try:
        if "eps" in p:
            eps, c = p["eps"], p["c"]
            # from eps t = 0.05 (N = 1: exact) or eps t = 2 (N >= 2: the wavefront still weighs e^-2 there,
            # the table's own clipped mass then sets where it is usable) to sigma = c sqrt(t/eps) = 20
            t_lo, t_hi = (0.05 if N == 1 else 2.0) / eps, eps * (20.0 / c) ** 2
            n = int(np.ceil(TABLE_PER_DECADE * np.log10(t_hi / t_lo))) + 1
            table = tabulate.dissipative_wave_table(eps, N, np.geomspace(t_lo, t_hi, n), c=c, refine=1e-3,
                                                    max_n_t=2 * n)
        else:
            k0 = p["k0"]
            t_hi = 0.99 * np.pi / (2 * k0)
            table = tabulate.helmholtz_table(k0, N, np.geomspace(1e-4 * t_hi, t_hi, 4 * TABLE_PER_DECADE + 1))
        table = tabulate.restrict(table)
    except ValueError as e:
        raise NotGenerativeError(
            f"no time range where the kernel is a density to within tolerance in N = {N}: {e}") from None
    return Tabulated.from_dict(table)


def tabulated_spec(P: sp.Expr, regime: str, n_kept: int, t_min, t_max, dim: int | None) -> LawSpec | None:
    """A tabulated radial law for a positive (to tolerance) kernel that is not a scale mixture, in N <= 8:
    the dissipative wave S^2 + 2 eps S + c^2 k^2 (from its t_min on) and Helmholtz S^2 - k^2 + k0^2."""
    if dim is None or dim > MAX_TABLE_DIM or P.free_symbols - {S, k}:
        return None
    poly = sp.Poly(P, S)
    if poly.degree() != 2:
        return None
    a2, a1, a0 = (poly.coeff_monomial(S**j) for j in (2, 1, 0))
    a0 = sp.Poly(sp.expand(a0 / a2), k)
    c2, const = a0.coeff_monomial(k**2), a0.coeff_monomial(1)
    if a0.degree() != 2 or a0.coeff_monomial(k) != 0:
        return None
    if regime == "hyperbolic" and n_kept == 2 and t_min is not None and const == 0 and c2 > 0:
        eps = a1 / (2 * a2)
        return LawSpec("Tabulated", (("eps", eps), ("c", sp.sqrt(c2)), ("N", sp.Integer(dim))), exact=False)
    if regime == "elliptic" and t_max is not None and a1 == 0 and c2 == -1 and const > 0:
        return LawSpec("Tabulated", (("k0", sp.sqrt(const)), ("N", sp.Integer(dim))), exact=False)
    return None


@dataclass(frozen=True)
class Kernel:
    """The kernel of a PDE: Fourier density p^(k, t), mass M(t), normalised q, law of S_t.

    ``positive``: True (a probability kernel in every dimension, or in ``dim``), False (signed),
    None (conditional: see ``note``). ``t_max_bound``: the largest t for which the kernel is a
    density (Helmholtz: the mass cos(k0 t) vanishes at pi/(2 k0)), or None. ``t_min``: where a
    signed wavefront fades below NEG_TOL of the mass (dissipative wave: log(1/NEG_TOL)/eps), or None.
    """

    regime: str
    kept: tuple[sp.Expr, ...]
    fourier: sp.Expr
    mass: sp.Expr
    q: sp.Expr
    law: LawSpec | None
    positive: bool | None
    t_max_bound: sp.Expr | None
    augment_dim: int | None
    note: str
    values: tuple[tuple[sp.Symbol, Any], ...] = field(default=())
    t_min: sp.Expr | None = None

    # ---- runtime (torch), the API shared with the emitted kernel.py ----
    @cached_property
    def runtime(self):
        """The torch kernel (pdec.runtime.kernel.Kernel) of the numeric law."""
        if self.law is None:
            raise ParameterError(f"this kernel has no sampler: {self.note}")
        from .runtime.kernel import Kernel as RuntimeKernel

        return RuntimeKernel(self.law.subs(dict(self.values)).build())

    def sample_scale(self, t, generator=None):
        """S_t for each time in t (tensor [B])."""
        return self.runtime.sample_scale(t, generator=generator)

    def perturb(self, y, t, generator=None):
        """(x, u): x = y + sqrt(S_t) xi and the conditional velocity u = (dS_t/dt)/(2 S_t) (x - y)."""
        return self.runtime.perturb(y, t, generator=generator)

    def sigma(self, t):
        """sigma(t) = sqrt(median S_t)."""
        return self.runtime.sigma(t)

    def sigma_inv(self, sigma):
        """The time t with sigma(t) = sigma."""
        return self.runtime.sigma_inv(sigma)


# ---------------------------------------------------------------------------------------------

def operator_parts(P: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """Split P = S A(S) + (P - P0) + c: returns (A, rest, c) with P0 = P at Lap = FL = 0.

    ``rest`` holds every term with a Laplacian (integer or fractional); c is the constant.
    """
    P0 = P.subs(Lap, 0).replace(FL, lambda b: sp.S.Zero)
    c = P0.subs(S, 0)
    A = sp.expand(sp.cancel((P0 - c) / S))
    return A, sp.expand(P - P0), c


def _limit0(e: sp.Expr) -> sp.Expr:
    """e at k = 0 (a limit where the substitution is singular), cheaply simplified."""
    v = e.subs(k, 0)
    if v.has(sp.zoo, sp.nan, sp.oo) or v is sp.nan:
        v = sp.limit(e, k, 0, "+")
    if v.has(sp.cosh, sp.sinh, sp.cos, sp.sin):
        w = sp.powsimp(sp.expand(v.rewrite(sp.exp)))
        v = w if sp.count_ops(w) <= sp.count_ops(v) else v
    return sp.factor_terms(v) if not v.is_number else v


def _signed_power(p) -> bool:
    return bool(sp.sympify(p).is_number and p > 2)


def recognise(psi: sp.Expr) -> tuple[LawSpec | None, str]:
    """The law of S_t with E exp(-lam S_t) = exp(t psi(sqrt(2 lam))), from the exponent psi(k).

    psi is a sum of terms -c k^alpha (0 < alpha < 2: stable, alpha = 1 Cauchy = InverseGamma(1),
    alpha = 2: deterministic) and -c (sqrt(k^2 + m^2) - m) (inverse Gaussian). Returns (None, reason)
    when psi is not of that form (the kernel may still be positive, see the numerical check).
    """
    comps: list[LawSpec] = []
    for term in sp.Add.make_args(sp.expand(psi)):
        coeff, rest = term.as_independent(k, as_Add=False)
        if rest == 1:
            continue  # constants cancel by construction (psi(0) = 0)
        if rest == k or (rest.is_Pow and rest.base == k):
            alpha = sp.S.One if rest == k else rest.exp
            c = sp.simplify(-coeff)
            if c.is_positive is False or (c.is_number and not c.is_positive):
                return None, f"the term {term} grows with k"
            if _signed_power(alpha):
                return None, f"exp(-c t k^{alpha}) with exponent {alpha} > 2 is not positive definite (it is signed)"
            if alpha == 2:
                comps.append(LawSpec("Deterministic", (("a", c),)))
            elif alpha == 1:
                comps.append(LawSpec("InverseGamma", (("D", sp.S.One), ("c", c))))
            else:
                cond = sp.And(alpha > 0, alpha <= 2) if not alpha.is_number else True
                comps.append(LawSpec("Stable", (("alpha", alpha), ("c", c)), condition=cond))
            continue
        if rest.is_Pow and rest.exp == sp.Rational(1, 2) and rest.base.is_polynomial(k):
            base = sp.Poly(rest.base, k)
            if base.degree() == 2 and base.coeff_monomial(k) == 0:
                A2, B0 = base.coeff_monomial(k**2), base.coeff_monomial(1)
                c = sp.simplify(-coeff * sp.sqrt(A2))
                m2 = sp.simplify(B0 / A2)
                if m2.is_positive and (c.is_positive or c.is_positive is None):
                    comps.append(LawSpec("InverseGaussian", (("c", c), ("m", sp.sqrt(m2)))))
                    continue
                if m2.is_negative:
                    return None, f"sqrt({rest.base}) oscillates for small k: not a scale mixture"
        return None, f"the term {term} is not of a known law's form"
    if not comps:
        return None, "the kernel does not depend on k"
    if len(comps) == 1:
        return comps[0], ""
    return LawSpec("Sum", components=tuple(comps)), ""


def _augmented(P: sp.Expr, D: int) -> tuple[sp.Expr, sp.Expr, LawSpec]:
    """Kernel with D augmented dimensions: (p^, M, law) for P = a2 S^2 - a2 w(k)^2."""
    poly = sp.Poly(P, S)
    if poly.degree() != 2 or poly.coeff_monomial(S) != 0:
        raise InvalidPDEError(
            "augment_dim needs a PDE of second order in t with no first-order term (Poisson, Yukawa)")
    a2, c0 = poly.coeff_monomial(S**2), poly.coeff_monomial(1)
    w2 = sp.expand(-c0 / a2)
    if not w2.is_polynomial(k) or sp.Poly(w2, k).degree() != 2 or sp.Poly(w2, k).coeff_monomial(k) != 0:
        raise InvalidPDEError(f"augment_dim needs w(k)^2 = c^2 (k^2 + m^2); this PDE has w^2 = {w2}")
    c2, cm2 = sp.Poly(w2, k).coeff_monomial(k**2), sp.Poly(w2, k).coeff_monomial(1)
    if not (c2.is_positive and (cm2.is_nonnegative or cm2 == 0)):
        raise InvalidPDEError(f"augment_dim needs w(k)^2 = c^2 (k^2 + m^2) with c, m >= 0; got {w2}")
    c = sp.sqrt(c2)
    m = sp.sqrt(sp.simplify(cm2 / c2))
    nu = sp.Rational(D, 2)
    w = c * sp.sqrt(k**2 + m**2)
    shape = (w * t) ** nu * sp.besselk(nu, w * t)
    norm = 2 ** (nu - 1) * sp.gamma(nu)  # lim_{z->0} z^nu K_nu(z)
    p_hat = shape / norm
    if m == 0:
        return p_hat, sp.S.One, LawSpec("InverseGamma", (("D", sp.Integer(D)), ("c", c)))
    mass = (m * c * t) ** nu * sp.besselk(nu, m * c * t) / norm
    return p_hat, mass, LawSpec("GIG", (("D", sp.Integer(D)), ("m", m), ("c", c)))


def _numeric_q(q: sp.Expr, values: dict):
    f = sp.lambdify((k, t), q.subs(values), modules=["scipy", "numpy"])

    def qfun(kk, tt):
        return np.real(np.asarray(f(np.asarray(kk, dtype=complex), tt), dtype=complex))

    return qfun


def derive_kernel(pde: PDE, disp: Dispersion, values: dict | None = None,
                  augment_dim: int | None = None, dim: int | None = None) -> tuple[Kernel | None, str]:
    """The kernel of the PDE (or None, with the reason there is none)."""
    values = dict(values or {})
    if pde.symbol.has(sp.I):
        return None, "complex coefficients: the point-source solution is complex, not a density"
    if not disp.exact:
        return None, f"the dispersion relation (degree {disp.degree}) has no closed form: no symbolic kernel"
    probes = probe_values(pde.params, values)
    n = pde.order_t
    grows = np.array([grows_at_high_k(disp, v) for v in probes]).any(axis=0)
    decays = np.array([decays_at_high_k(disp, v) for v in probes]).all(axis=0)
    A, _, _ = operator_parts(pde.symbol)
    if n == 1:
        regime, kept = "first order", [0]
        if grows[0]:
            return None, ("the only branch grows without bound at high k (like backward diffusion): "
                          "no bounded solution from a point source")
    elif grows.any():
        regime = "elliptic"
        kept = [j for j in range(n) if decays[j]]
        if not kept:
            return None, "every branch grows or oscillates at high k: no bounded kernel"
        if len(kept) > 1:
            return None, (f"{len(kept)} branches decay at high k: a boundary-value problem in t needs "
                          "more conditions than p^(k, 0) = 1; not supported")
    else:
        regime, kept = "hyperbolic", list(range(n))
        if len({sp.expand(sj) for sj in disp.s}) < n:
            return None, "repeated branches: not supported"
    s_kept = tuple(disp.s[j] for j in kept)
    if len(kept) == 1:
        sj = s_kept[0]
        p_hat = sp.exp(sj * t)
        s0 = _limit0(sj)
        mass = sp.exp(s0 * t)
        psi = sp.expand(sj - s0)
    else:
        PS = sp.diff(disp.P, S)
        w = [sp.cancel(A.subs(S, sj) / PS.subs(S, sj)) for sj in s_kept]
        total = sp.cancel(sp.together(sum(w)))
        if len(s_kept) == 2:  # e^{at} (cosh(bt) + d sinh(bt)), s = a +- b, d = (w1 - w2)/(w1 + w2)
            a = sp.expand((s_kept[0] + s_kept[1]) / 2)
            b = sp.expand((s_kept[0] - s_kept[1]) / 2)
            d = sp.cancel(sp.together((w[0] - w[1]) / total))
            if sp.Add.make_args(sp.expand(b))[0].could_extract_minus_sign():
                b, d = -b, -d
            p_hat = sp.exp(a * t) * (sp.cosh(b * t) + d * sp.sinh(b * t))
        else:
            p_hat = sp.simplify(sum(wj * sp.exp(sj * t) for wj, sj in zip(w, s_kept)) / total)
        mass = _limit0(p_hat)
        psi = None
    note = ""
    if mass.has(sp.I):
        mass = sp.simplify(sp.re(sp.expand_complex(mass)))
        note = ("the kept branch oscillates for small k; the kernel is its real part (a standing wave), so "
                f"the mass is {sp.sstr(mass)}. In real space this kernel (a Bessel-Y form) is signed for every "
                "value of the parameters: it has an oscillating tail whose negative mass vanishes only in the "
                "limit of a small oscillating band (the Poisson limit), so it is at best approximately "
                "generative there. ")
    t_max = None
    if not mass.is_positive:
        zeros = [z for z in sp.solve(sp.Eq(mass, 0), t) if z.is_positive is not False]
        if zeros:
            t_max = min(zeros, key=lambda z: float(z.subs(probes[0])) if z.free_symbols else float(z))
            note += f"The mass M(t) = {sp.sstr(mass)} > 0 only for t < {exact_and_decimal(t_max)}. "
    law: LawSpec | None = None
    why = ""
    if augment_dim is not None and augment_dim > 1:
        if regime != "elliptic":
            raise InvalidPDEError("augment_dim applies to elliptic problems in t (Poisson, Yukawa)")
        p_hat, mass, law = _augmented(disp.P, augment_dim)
        q = p_hat / mass  # no simplify: K_{D/2} of half-integer order expands into 2^D terms
    else:
        q = sp.exp(psi * t) if psi is not None and not note else (p_hat if mass == 1 else p_hat / mass)
        if psi is not None and not note:
            law, why = recognise(psi)
    positive: bool | None
    t_min = None
    if law is not None:
        positive = True if law.condition is True or law.condition == sp.true else None
    elif "not positive definite" in why:
        positive = False
    else:
        wave = _wavefront(p_hat, s_kept, pde.params, values) if regime == "hyperbolic" else None
        if wave is not None and (dim is None or dim >= 2):
            positive, t_min, text = wave
            note += text
        elif t_max is not None:
            positive = None  # a density at most for t < t_max: the mass says it
        else:
            positive = _numeric_positivity(q, pde.params, values, dim, t_max)
    if law is None and why:
        note += why + ". "
    if law is None and positive is not False:
        law = tabulated_spec(disp.P, regime, len(s_kept), t_min, t_max, dim)
        if law is not None:
            note += (f"Sampled through its radial law tabulated in N = {dim} (pdec.tabulate): approximate, "
                     "restricted to the times where the clipped negative mass is below 1e-3. ")
    return Kernel(regime=regime, kept=s_kept, fourier=p_hat, mass=mass, q=q, law=law, positive=positive,
                  t_max_bound=t_max, t_min=t_min, augment_dim=augment_dim, note=note.strip(),
                  values=tuple(values.items())), ""


#: relative negative mass below which a kernel counts as positive
NEG_TOL = 1e-3


def _wavefront(p_hat, kept, params, values) -> tuple[bool | None, sp.Expr | None, str] | None:
    """Kernels that do not decay in k carry a wavefront (a derivative of a delta shell at |x - y| ~ t),
    signed in N >= 2. Its weight is the envelope exp(Re(a) t), a = (s_1 + s_2)/2 the mean growth rate.
    Returns (positive, t_min, note), or None when the kernel decays in k (no wavefront)."""
    v = probe_values(params, values)[0]
    qf = _numeric_q(p_hat, v)
    big = np.array([1e4, 1e4 + 0.37, 1e5 + 0.11])
    if max(np.abs(qf(big, 1.0)).max(), np.abs(qf(big, 0.1)).max()) < 1e-9:
        return None
    a = _limit0(sp.simplify(sp.re(sp.expand_complex(sum(kept) / len(kept)))))
    weight = sp.exp(a * t)
    if not (a.is_negative or (a.is_number and a < 0)):
        return False, None, (f"a wavefront of weight {sp.sstr(weight)} that never fades: the kernel is signed "
                             "in N >= 2 (in N = 1 it is two atoms). ")
    t_min = sp.simplify(sp.log(sp.nsimplify(1 / NEG_TOL)) / -a)
    big = ", ".join(sorted(s.name for s in a.free_symbols)) or "damping"
    return None, t_min, (f"in N = 1 the kernel is a probability law (the telegraph process); in N >= 2 it carries "
                         f"a signed wavefront at |x - y| = t of weight {sp.sstr(weight)}, so it is never exactly a "
                         f"positive measure, but the wavefront's weight is below {NEG_TOL:g} of the mass for "
                         f"t >= {exact_and_decimal(t_min)} (large {big}). ")


def _numeric_positivity(q, params, values, dim, t_max) -> bool | None:
    """Positivity of a kernel that is not a known mixture, from its real-space form (pdec.green)."""
    try:
        from . import green
    except ImportError:  # pragma: no cover - green is part of pdec
        return None
    dims = [dim] if dim else [2]
    verdicts = []
    for v in probe_values(params, values)[:2]:
        tb = float(t_max.subs(v)) if t_max is not None else None
        ts = [0.1, 0.5, 2.0] if tb is None else [0.2 * tb, 0.5 * tb, 0.9 * tb]
        qfun = _numeric_q(q, v)
        for N in dims:
            try:
                neg = [green.negative_mass(qfun, tt, N, mollify=0.05 * tt, r_max=1.6 * tt + 1.0) for tt in ts]
            except (ValueError, ArithmeticError):
                return None
            verdicts.append(tuple(x <= NEG_TOL for x in neg))
    if all(all(x) for x in verdicts):
        return True
    if not any(any(x) for x in verdicts):
        return False
    return None
