"""Laws of the screened terms -c (sqrt(k^2 + m^2) - m) of psi (Yukawa): InverseGaussian, and GIG for
D augmented dimensions. A term sqrt(k^2 - k0^2) oscillates for small k (Helmholtz): refused."""

from __future__ import annotations

import sympy as sp

from ..pde import k, r, t
from .base import Law, Refusal, param_values, register, sqrt_term


@register
class InverseGaussian(Law):
    """q = exp(-tau (sqrt(k^2 + m^2) - m)), tau = c t: S_t ~ IG(mean tau / m, shape tau^2)."""

    name = "InverseGaussian"
    params = ("c", "m")

    @classmethod
    def from_term(cls, term):
        st = sqrt_term(term)
        if st is None:
            return None
        c, m2, _ = st
        if m2.is_positive and (c.is_positive or c.is_positive is None):
            return cls.spec(c, sp.sqrt(m2))
        return None

    @classmethod
    def refuse(cls, term):
        st = sqrt_term(term)
        if st is not None and st[1].is_negative:
            return Refusal(f"sqrt({st[2]}) oscillates for small k: not a scale mixture")
        return None

    @classmethod
    def fourier(cls, params):
        c, m = param_values(cls.name, params, cls.params)
        return sp.exp(-c * t * (sp.sqrt(k**2 + m**2) - m))

    @classmethod
    def real(cls, params, N):
        """2 tau exp(m tau) (m / (2 pi))^nu K_nu(m rho) / rho^nu, rho^2 = tau^2 + r^2, nu = (N + 1)/2: -d/dtau
        of the screened-Poisson potential of N + 1 dimensions, times exp(m tau) for the mass lost to R."""
        c, m = param_values(cls.name, params, cls.params)
        tau, nu = c * t, (N + 1) / 2
        rho = sp.sqrt(tau**2 + r**2)
        return 2 * tau * sp.exp(m * tau) * (m / (2 * sp.pi)) ** nu * sp.besselk(nu, m * rho) / rho**nu


@register
class GIG(Law):
    """q = ((k^2 + m^2)/m^2)^(D/4) K_{D/2}(tau sqrt(k^2 + m^2)) / K_{D/2}(m tau): S_t ~ GIG(-D/2, m^2, tau^2)
    (Yukawa with D augmented dimensions; D = 1 is InverseGaussian)."""

    name = "GIG"
    params = ("D", "m", "c")

    @classmethod
    def from_augmented(cls, c, m, D):
        return cls.spec(sp.Integer(D), m, c) if m != 0 else None

    @classmethod
    def fourier(cls, params):
        D, m, c = param_values(cls.name, params, cls.params)
        w = sp.sqrt(k**2 + m**2)
        return (w / m) ** (D / 2) * sp.besselk(D / 2, c * t * w) / sp.besselk(D / 2, c * t * m)

    @classmethod
    def real(cls, params, N):
        """(2 pi)^(-N/2) (tau/m)^(D/2) (m/rho)^((N+D)/2) K_{(N+D)/2}(m rho) / K_{D/2}(m tau)."""
        D, m, c = param_values(cls.name, params, cls.params)
        tau = c * t
        rho = sp.sqrt(tau**2 + r**2)
        return ((2 * sp.pi) ** (-N / 2) * (tau / m) ** (D / 2) * (m / rho) ** ((N + D) / 2)
                * sp.besselk((N + D) / 2, m * rho) / sp.besselk(D / 2, m * tau))
