"""Real-space Green functions: the closed forms of the kernels pdec recognises.

A unit point source at y spreads, at time t, into the density p(x - y, t), radial in r = |x - y|.
Its normalised Fourier transform q(k, t) = p^(k, t) / p^(0, t) is what pdec derives; this module
gives the closed forms of the normalised real-space density q_t(r): those of the laws of S_t
(:func:`green_real`, dispatched to each law's ``Law.real`` in pdec.laws), of Helmholtz
(:func:`green_helmholtz`) and of the dissipative wave (:func:`green_dissipative_wave`), with the
Fourier kernels they invert (:func:`green_fourier`).

The numerical radial inverse Fourier transform (:func:`radial_inverse_fourier`) and the measures of
positivity (:func:`positivity_at`, :func:`negative_mass`, ...) live in pdec.radial_transform and are
re-exported here. Conventions: p^(k) = int p(x) exp(-i k.x) dx, so p(r) = (2 pi)^(-N) int q(k) exp(i k.x) dk.

This is compile-time code: SymPy for the closed forms, NumPy/SciPy for the numbers (no torch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import laws
from .laws.base import param_values, value
from .pde import N as N_symbol
from .pde import k, r, t
from .radial_transform import (  # noqa: F401  (re-exported: the numeric service, one implementation)
    Positivity,
    first_negative_radius,
    negative_mass,
    positivity_at,
    positivity_report,
    radial_inverse_fourier,
    sphere_area,
)

__all__ = [
    "LAWS",
    "green_real",
    "green_fourier",
    "green_helmholtz",
    "green_dissipative_wave",
    "DissipativeWaveKernel",
    "dissipative_wave_fourier",
    "to_numpy",
    "sphere_area",
    "radial_inverse_fourier",
    "Positivity",
    "positivity_at",
    "positivity_report",
    "negative_mass",
    "first_negative_radius",
]

#: the law names :func:`green_real` and :func:`green_fourier` know
LAWS = ("Deterministic", "Stable", "InverseGaussian", "InverseGamma", "GIG", "Helmholtz")


def green_real(law: str, params: dict, N=N_symbol) -> sp.Expr | None:
    """The normalised real-space density q_t(r) of x - y for a recognised law, or None.

    The closed form is the law's own (pdec.laws: ``Law.real``), with tau = c t, rho = sqrt(tau^2 + r^2),
    nu = (N + 1)/2:

    - ``Deterministic(a)``, q^ = exp(-a t k^2), S = 2 a t:   (4 pi a t)^(-N/2) exp(-r^2 / (4 a t)).
    - ``Stable(alpha, c)``, q^ = exp(-c t k^alpha): alpha = 1 is the Poisson kernel
      Gamma(nu) pi^(-nu) tau / rho^(N+1); alpha = 2 is the heat kernel with a = c; any other alpha has
      no elementary closed form (None).
    - ``InverseGaussian(c, m)``, q^ = exp(-tau (sqrt(k^2 + m^2) - m)) (Yukawa):
      2 tau exp(m tau) (m / (2 pi))^nu K_nu(m rho) / rho^nu. It is -d/dtau of the screened-Poisson
      potential of N + 1 dimensions, (m/rho)^((N-1)/2) K_{(N-1)/2}(m rho) (up to a constant), times
      exp(m tau) for the mass lost to R = -m^2 phi.
    - ``InverseGamma(D, c)``, q^ = 2^(1-D/2) / Gamma(D/2) (k tau)^(D/2) K_{D/2}(k tau) (PFGM++):
      the Student-t Gamma((N+D)/2) / (pi^(N/2) Gamma(D/2)) tau^D / rho^(N+D); D = 1 is Poisson.
    - ``GIG(D, m, c)``, q^ = ((k^2 + m^2)/m^2)^(D/4) K_{D/2}(tau sqrt(k^2 + m^2)) / K_{D/2}(m tau):
      (2 pi)^(-N/2) (tau/m)^(D/2) (m/rho)^((N+D)/2) K_{(N+D)/2}(m rho) / K_{D/2}(m tau), the Gaussian
      mixture over S ~ GIG(-D/2, m^2, tau^2); D = 1 is InverseGaussian.
    - ``Helmholtz(k0)``: see :func:`green_helmholtz`.
    """
    N = value(N)
    if law == "Helmholtz":
        (k0,) = param_values(law, params, ["k0"])
        return green_helmholtz(k0, N)
    cls = laws.find(law)
    if cls is None or cls.real is None:
        raise ValueError(f"unknown law {law!r}; known: {', '.join(LAWS)}")
    return cls.real(params, N)


def green_helmholtz(k0, N=N_symbol) -> sp.Expr:
    """Helmholtz phi_tt + lap(phi) + k0^2 phi = 0: the real density p = -phi_t / cos(k0 t).

    The kept Fourier kernel is exp(-t sqrt(k^2 - k0^2)) for k > k0, continued by the real standing
    wave cos(t sqrt(k0^2 - k^2)) for k < k0, with mass cos(k0 t) (positive for t < pi / (2 k0)). It is
    the real part of the Yukawa kernel at m = -i k0, where m^nu K_nu(m rho) = (i pi/2) k0^nu H1_nu(k0 rho)
    and Re(i H1_nu) = -Y_nu. With rho = sqrt(t^2 + r^2), nu = (N + 1)/2:

        q_t(r) = -pi t (k0 / (2 pi rho))^nu Y_nu(k0 rho) / cos(k0 t),

    i.e. the imaginary (Y) part of -d/dt of the table's potential (k0/rho)^((N-1)/2) H1_{(N-1)/2}(k0 rho);
    k0 -> 0 gives the Poisson kernel. It changes sign where Y_nu(k0 rho) does (the first zero of Y_nu,
    at k0 rho ~ 2.2 for N = 1), and its tail decays like rho^(-(N+2)/2): absolutely integrable only in
    N = 1 (the Fourier kernel has a square-root kink on the sphere |k| = k0). So it is never a
    probability density for k0 > 0; in N >= 2 its negative part has infinite mass.
    """
    k0, N = value(k0), value(N)
    nu = (N + 1) / 2
    rho = sp.sqrt(t**2 + r**2)
    return -sp.pi * t * (k0 / (2 * sp.pi * rho)) ** nu * sp.bessely(nu, k0 * rho) / sp.cos(k0 * t)


def green_fourier(law: str, params: dict) -> sp.Expr:
    """The normalised Fourier kernel q^(k, t) of a law (what :func:`green_real` inverts; ``Law.fourier``).

    Also ``DissipativeWave(eps)``: exp(-eps t) (cosh(g t) + eps sinh(g t)/g), g = sqrt(eps^2 - k^2)
    (real for k < eps; for k > eps read it as cos/sin of t sqrt(k^2 - eps^2), as
    :func:`dissipative_wave_fourier` does numerically).
    """
    if law == "Helmholtz":
        (k0,) = param_values(law, params, ["k0"])
        return sp.Piecewise((sp.cos(t * sp.sqrt(k0**2 - k**2)), k < k0),
                            (sp.exp(-t * sp.sqrt(k**2 - k0**2)), True)) / sp.cos(k0 * t)
    if law == "DissipativeWave":
        (eps,) = param_values(law, params, ["eps"])
        g = sp.sqrt(eps**2 - k**2)
        return sp.exp(-eps * t) * (sp.cosh(g * t) + eps * sp.sinh(g * t) / g)
    cls = laws.find(law)
    if cls is None or cls.fourier is None:
        raise ValueError(f"unknown law {law!r}; known: {', '.join(LAWS + ('DissipativeWave',))}")
    return cls.fourier(params)


@dataclass(frozen=True)
class DissipativeWaveKernel:
    """The dissipative wave phi_tt + 2 eps phi_t - lap(phi), p = phi_t + 2 eps phi, in N = 1, 2, 3.

    The kernel lives on r <= t: an absolutely continuous part ``ac`` (in r and t, for r < t) plus a
    wavefront on the sphere r = t. With s = sqrt(t^2 - r^2) and E the inverse transform of sinh(g t)/g,
    p = exp(-eps t) (d/dt + eps) E:

    - N = 1 (the telegraph process): ac = (eps/2) e^(-eps t) (I_0(eps s) + t I_1(eps s)/s) >= 0; the front
      is two atoms of mass e^(-eps t)/2 at x = +-t. A probability law for every eps, t.
    - N = 2: E = cosh(eps s) / (2 pi s); ac = e^(-eps t) ((t/s)(eps sinh(eps s)/s - cosh(eps s)/s^2)
      + eps cosh(eps s)/s) / (2 pi), which goes to -infinity like -t e^(-eps t) / (2 pi s^3) at the front
      (not integrable: the kernel is a finite-part distribution, not a measure, for every eps, t).
    - N = 3: E = delta(t - r)/(4 pi r) + eps I_1(eps s)/(4 pi s); ac = e^(-eps t) eps^2 (t I_2(eps s)/s^2
      + I_1(eps s)/s) / (4 pi) >= 0; the front e^(-eps t) (delta'(t - r)/(4 pi r) + (eps/(4 pi r) + eps^2/(8 pi))
      delta(t - r)) carries the mass e^(-eps t) (1 + eps t + (eps t)^2/2) and a signed dipole layer.

    ``front_mass`` = 1 - int ac (None in N = 2, where int ac diverges).
    """

    N: int
    ac: sp.Expr
    front_mass: sp.Expr | None


def green_dissipative_wave(eps, N: int) -> DissipativeWaveKernel:
    """The dissipative-wave kernel's parts in N = 1, 2, 3; see :class:`DissipativeWaveKernel`."""
    eps = value(eps)
    s = sp.sqrt(t**2 - r**2)
    damp = sp.exp(-eps * t)
    if N == 1:
        ac = eps / 2 * damp * (sp.besseli(0, eps * s) + t * sp.besseli(1, eps * s) / s)
        return DissipativeWaveKernel(N=1, ac=ac, front_mass=damp)
    if N == 2:
        ac = damp / (2 * sp.pi) * ((t / s) * (eps * sp.sinh(eps * s) / s - sp.cosh(eps * s) / s**2)
                                   + eps * sp.cosh(eps * s) / s)
        return DissipativeWaveKernel(N=2, ac=ac, front_mass=None)
    if N == 3:
        ac = damp * eps**2 / (4 * sp.pi) * (t * sp.besseli(2, eps * s) / s**2 + sp.besseli(1, eps * s) / s)
        return DissipativeWaveKernel(N=3, ac=ac, front_mass=damp * (1 + eps * t + (eps * t) ** 2 / 2))
    raise ValueError(f"closed forms of the dissipative-wave kernel are given for N = 1, 2, 3, not {N}")


def dissipative_wave_fourier(eps: float) -> Callable[[np.ndarray, float], np.ndarray]:
    """Numerically stable q(k, t) = exp(-eps t) (cosh(g t) + eps sinh(g t)/g), g = sqrt(eps^2 - k^2).

    For k < eps: exp((g - eps) t) ((1 + exp(-2 g t))/2 + eps (1 - exp(-2 g t)) / (2 g)) (no overflow at
    large eps t); for k > eps, with w = sqrt(k^2 - eps^2): exp(-eps t) (cos(w t) + eps sin(w t)/w).
    It does not decay in k (the wavefront): invert it with ``mollify > 0``.
    """
    eps = float(eps)

    def q(kk, tt):
        kk = np.asarray(kk, dtype=float)
        tt = float(tt)
        g = np.sqrt(np.maximum(eps**2 - kk**2, 0.0))
        w = np.sqrt(np.maximum(kk**2 - eps**2, 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            sh = np.where(g * tt > 1e-8, -np.expm1(-2 * g * tt) / (2 * g), tt)  # sinh(g t) exp(-g t) / g
        below = np.exp((g - eps) * tt) * (0.5 * (1 + np.exp(-2 * g * tt)) + eps * sh)
        above = np.exp(-eps * tt) * (np.cos(w * tt) + eps * tt * np.sinc(w * tt / np.pi))
        return np.where(kk < eps, below, above)

    return q


def to_numpy(expr: sp.Expr, *symbols: sp.Symbol) -> Callable[..., np.ndarray]:
    """``sympy.lambdify(symbols, expr, modules=["scipy", "numpy"])``, broadcast to the inputs' shape.

    besselk, besselj, bessely, besseli, hankel1/2, gamma map to scipy.special (kv, jv, yv, iv, ...).
    """
    f = sp.lambdify(symbols, expr, modules=["scipy", "numpy"])

    def g(*args):
        arrays = [np.asarray(a) for a in args]
        with np.errstate(all="ignore"):
            out = np.asarray(f(*arrays))
        return np.broadcast_to(out, np.broadcast_shapes(out.shape, *(a.shape for a in arrays))).copy()

    return g
