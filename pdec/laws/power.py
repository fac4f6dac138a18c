"""Laws of the power terms -c k^alpha of psi: Deterministic (alpha = 2), InverseGamma (alpha = 1, and
PFGM++'s D augmented dimensions without mass), Stable (any other 0 < alpha < 2).

A term -c k^alpha with c < 0 grows with k, and one with alpha > 2 is not positive definite (its kernel
exp(-c t k^alpha) is signed): :meth:`Stable.refuse` says so.
"""

from __future__ import annotations

import sympy as sp

from ..pde import k, r, t
from .base import Law, Refusal, param_values, power_term, register


def _accepts(c: sp.Expr) -> bool:
    """c > 0, or not known to be <= 0."""
    return not (c.is_positive is False or (c.is_number and not c.is_positive))


def _signed_power(alpha) -> bool:
    return bool(sp.sympify(alpha).is_number and alpha > 2)


def _is(e: sp.Expr, v) -> bool:
    return bool(sp.simplify(e - v) == 0)


@register
class Deterministic(Law):
    """Diffusion: q = exp(-a t k^2), S_t = 2 a t (a point mass); the heat kernel."""

    name = "Deterministic"
    params = ("a",)

    @classmethod
    def from_term(cls, term):
        pt = power_term(term)
        if pt is not None and pt[1] == 2 and _accepts(pt[0]):
            return cls.spec(pt[0])
        return None

    @classmethod
    def fourier(cls, params):
        (a,) = param_values(cls.name, params, cls.params)
        return sp.exp(-a * t * k**2)

    @classmethod
    def real(cls, params, N):
        """(4 pi a t)^(-N/2) exp(-r^2 / (4 a t))."""
        (a,) = param_values(cls.name, params, cls.params)
        return (4 * sp.pi * a * t) ** (-N / 2) * sp.exp(-(r**2) / (4 * a * t))


@register
class Stable(Law):
    """q = exp(-c t k^alpha), 0 < alpha <= 2: S_t = 2 (c t)^(2/alpha) S_1 (fractional diffusion)."""

    name = "Stable"
    params = ("alpha", "c")

    @classmethod
    def from_term(cls, term):
        pt = power_term(term)
        if pt is None or not _accepts(pt[0]) or _signed_power(pt[1]) or pt[1] in (1, 2):
            return None
        c, alpha = pt
        return cls.spec(alpha, c, condition=sp.And(alpha > 0, alpha <= 2) if not alpha.is_number else True)

    @classmethod
    def refuse(cls, term):
        pt = power_term(term)
        if pt is None:
            return None
        c, alpha = pt
        if not _accepts(c):
            return Refusal(f"the term {term} grows with k")
        if _signed_power(alpha):
            return Refusal(f"exp(-c t k^{alpha}) with exponent {alpha} > 2 is not positive definite (it is signed)",
                           signed=True)
        return None

    @classmethod
    def fourier(cls, params):
        alpha, c = param_values(cls.name, params, cls.params)
        return sp.exp(-c * t * k**alpha)

    @classmethod
    def real(cls, params, N):
        """alpha = 1: the Poisson kernel Gamma(nu) pi^(-nu) tau / rho^(N+1) (tau = c t, rho^2 = tau^2 + r^2,
        nu = (N + 1)/2); alpha = 2: the heat kernel with a = c; no elementary form otherwise (None)."""
        alpha, c = param_values(cls.name, params, cls.params)
        if _is(alpha, 1):
            nu = (N + 1) / 2
            return sp.gamma(nu) / sp.pi**nu * c * t / ((c * t) ** 2 + r**2) ** nu
        if _is(alpha, 2):
            return Deterministic.real({"a": c}, N)
        return None


@register
class InverseGamma(Law):
    """q = 2^(1-D/2) / Gamma(D/2) (k tau)^(D/2) K_{D/2}(k tau), tau = c t: S_t ~ InvGamma(D/2, tau^2/2)
    (Poisson for D = 1, PFGM++ with D augmented dimensions)."""

    name = "InverseGamma"
    params = ("D", "c")

    @classmethod
    def from_term(cls, term):
        pt = power_term(term)
        if pt is not None and pt[1] == 1 and _accepts(pt[0]):
            return cls.spec(sp.S.One, pt[0])
        return None

    @classmethod
    def from_augmented(cls, c, m, D):
        return cls.spec(sp.Integer(D), c) if m == 0 else None

    @classmethod
    def fourier(cls, params):
        D, c = param_values(cls.name, params, cls.params)
        z = c * k * t
        return 2 ** (1 - D / 2) / sp.gamma(D / 2) * z ** (D / 2) * sp.besselk(D / 2, z)

    @classmethod
    def real(cls, params, N):
        """The Student-t Gamma((N+D)/2) / (pi^(N/2) Gamma(D/2)) tau^D / rho^(N+D)."""
        D, c = param_values(cls.name, params, cls.params)
        tau = c * t
        return (sp.gamma((N + D) / 2) / (sp.pi ** (N / 2) * sp.gamma(D / 2))
                * tau**D / (tau**2 + r**2) ** ((N + D) / 2))


__all__ = ["Deterministic", "Stable", "InverseGamma"]
