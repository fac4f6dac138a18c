"""Real-space Green functions and the numerical positivity check of kernels.

A unit point source at y spreads, at time t, into the density p(x - y, t), radial in r = |x - y|.
Its normalised Fourier transform q(k, t) = p^(k, t) / p^(0, t) is what pdec derives; this module
gives

- closed forms of the normalised real-space density q_t(r) for the recognised laws
  (:func:`green_real`, :func:`green_helmholtz`, :func:`green_dissipative_wave`), with the Fourier
  kernels they invert (:func:`green_fourier`);
- the numerical radial inverse Fourier transform in N dimensions (:func:`radial_inverse_fourier`),
- the measure of how far a kernel is from a probability density: the mass of its negative part
  and where it first goes negative (:func:`positivity_at`, :func:`positivity_report`,
  :func:`negative_mass`, :func:`first_negative_radius`).

Conventions: p^(k) = int p(x) exp(-i k.x) dx, so p(r) = (2 pi)^(-N) int q(k) exp(i k.x) dk, which
for a radial q is

    p(r) = (2 pi)^(-N/2) r^(1 - N/2) int_0^inf q(k) J_{N/2-1}(k r) k^(N/2) dk
         = (2 pi)^(-N) |S^(N-1)| int_0^inf q(k) Lambda_{N/2-1}(k r) k^(N-1) dk,

with |S^(N-1)| = 2 pi^(N/2) / Gamma(N/2) and Lambda_nu(z) = Gamma(nu + 1) (2/z)^nu J_nu(z) (= cos z in
N = 1, J_0(z) in N = 2, sin(z)/z in N = 3; Lambda_nu(0) = 1).

This is compile-time code: SymPy for the closed forms, NumPy/SciPy for the numbers (no torch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.special as sc
import sympy as sp

from .pde import N as N_symbol
from .pde import k, r, t

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

#: defaults of the parameters (the time scale c is 1 unless given)
_DEFAULTS = {"c": sp.Integer(1)}


def _value(v) -> sp.Expr:
    """A parameter value as a SymPy number/expression (never parses text)."""
    if isinstance(v, sp.Basic):
        return v
    if isinstance(v, bool):
        raise TypeError("a parameter value must be a number or a SymPy expression, not a bool")
    if isinstance(v, int):
        return sp.Integer(v)
    if isinstance(v, Fraction):
        return sp.Rational(v.numerator, v.denominator)
    if isinstance(v, float):
        return sp.Integer(int(v)) if v.is_integer() else sp.Float(v)
    raise TypeError(f"a parameter value must be a number or a SymPy expression, got {type(v).__name__}")


def _params(law: str, params: dict, names: Sequence[str]) -> list[sp.Expr]:
    out = []
    for name in names:
        if name in params:
            out.append(_value(params[name]))
        elif name in _DEFAULTS:
            out.append(_DEFAULTS[name])
        else:
            raise ValueError(f"law {law!r} needs parameter {name!r} (got {sorted(params)})")
    return out


def _is(e: sp.Expr, value) -> bool:
    return bool(sp.simplify(e - value) == 0)


def green_real(law: str, params: dict, N=N_symbol) -> sp.Expr | None:
    """The normalised real-space density q_t(r) of x - y for a recognised law, or None.

    With tau = c t and rho = sqrt(tau^2 + r^2) (nu = (N + 1)/2):

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
    N = _value(N)
    if law == "Deterministic":
        (a,) = _params(law, params, ["a"])
        return (4 * sp.pi * a * t) ** (-N / 2) * sp.exp(-(r**2) / (4 * a * t))
    if law == "Stable":
        alpha, c = _params(law, params, ["alpha", "c"])
        if _is(alpha, 1):
            nu = (N + 1) / 2
            return sp.gamma(nu) / sp.pi**nu * c * t / ((c * t) ** 2 + r**2) ** nu
        if _is(alpha, 2):
            return green_real("Deterministic", {"a": c}, N)
        return None
    if law == "InverseGaussian":
        c, m = _params(law, params, ["c", "m"])
        tau, nu = c * t, (N + 1) / 2
        rho = sp.sqrt(tau**2 + r**2)
        return 2 * tau * sp.exp(m * tau) * (m / (2 * sp.pi)) ** nu * sp.besselk(nu, m * rho) / rho**nu
    if law == "InverseGamma":
        D, c = _params(law, params, ["D", "c"])
        tau = c * t
        return (sp.gamma((N + D) / 2) / (sp.pi ** (N / 2) * sp.gamma(D / 2))
                * tau**D / (tau**2 + r**2) ** ((N + D) / 2))
    if law == "GIG":
        D, m, c = _params(law, params, ["D", "m", "c"])
        tau = c * t
        rho = sp.sqrt(tau**2 + r**2)
        return ((2 * sp.pi) ** (-N / 2) * (tau / m) ** (D / 2) * (m / rho) ** ((N + D) / 2)
                * sp.besselk((N + D) / 2, m * rho) / sp.besselk(D / 2, m * tau))
    if law == "Helmholtz":
        (k0,) = _params(law, params, ["k0"])
        return green_helmholtz(k0, N)
    raise ValueError(f"unknown law {law!r}; known: {', '.join(LAWS)}")


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
    k0, N = _value(k0), _value(N)
    nu = (N + 1) / 2
    rho = sp.sqrt(t**2 + r**2)
    return -sp.pi * t * (k0 / (2 * sp.pi * rho)) ** nu * sp.bessely(nu, k0 * rho) / sp.cos(k0 * t)


def green_fourier(law: str, params: dict) -> sp.Expr:
    """The normalised Fourier kernel q^(k, t) of a law (what :func:`green_real` inverts).

    Also ``DissipativeWave(eps)``: exp(-eps t) (cosh(g t) + eps sinh(g t)/g), g = sqrt(eps^2 - k^2)
    (real for k < eps; for k > eps read it as cos/sin of t sqrt(k^2 - eps^2), as
    :func:`dissipative_wave_fourier` does numerically).
    """
    if law == "Deterministic":
        (a,) = _params(law, params, ["a"])
        return sp.exp(-a * t * k**2)
    if law == "Stable":
        alpha, c = _params(law, params, ["alpha", "c"])
        return sp.exp(-c * t * k**alpha)
    if law == "InverseGaussian":
        c, m = _params(law, params, ["c", "m"])
        return sp.exp(-c * t * (sp.sqrt(k**2 + m**2) - m))
    if law == "InverseGamma":
        D, c = _params(law, params, ["D", "c"])
        z = c * k * t
        return 2 ** (1 - D / 2) / sp.gamma(D / 2) * z ** (D / 2) * sp.besselk(D / 2, z)
    if law == "GIG":
        D, m, c = _params(law, params, ["D", "m", "c"])
        w = sp.sqrt(k**2 + m**2)
        return (w / m) ** (D / 2) * sp.besselk(D / 2, c * t * w) / sp.besselk(D / 2, c * t * m)
    if law == "Helmholtz":
        (k0,) = _params(law, params, ["k0"])
        return sp.Piecewise((sp.cos(t * sp.sqrt(k0**2 - k**2)), k < k0),
                            (sp.exp(-t * sp.sqrt(k**2 - k0**2)), True)) / sp.cos(k0 * t)
    if law == "DissipativeWave":
        (eps,) = _params(law, params, ["eps"])
        g = sp.sqrt(eps**2 - k**2)
        return sp.exp(-eps * t) * (sp.cosh(g * t) + eps * sp.sinh(g * t) / g)
    raise ValueError(f"unknown law {law!r}; known: {', '.join(LAWS + ('DissipativeWave',))}")


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
    eps = _value(eps)
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


def sphere_area(N: int) -> float:
    """|S^(N-1)| = 2 pi^(N/2) / Gamma(N/2), the area of the unit sphere in R^N."""
    return 2 * math.pi ** (N / 2) / math.gamma(N / 2)


def _Lambda(nu: float, z: np.ndarray) -> np.ndarray:
    """Lambda_nu(z) = Gamma(nu + 1) (2/z)^nu J_nu(z): cos z (nu = -1/2), J_0 (nu = 0), sin z / z (nu = 1/2)."""
    if nu == -0.5:
        return np.cos(z)
    if nu == 0.0:
        return sc.j0(z)
    if nu == 0.5:
        return np.sinc(z / np.pi)
    out = np.empty_like(z)
    small = z < 1.0
    zs = z[small]
    term, acc = np.ones_like(zs), np.ones_like(zs)
    for j in range(1, 14):  # the power series, for z < 1 (terms < 4^-j / (j! (nu+1)_j))
        term = term * (-(zs**2) / 4) / (j * (nu + j))
        acc = acc + term
    out[small] = acc
    zl = z[~small]
    out[~small] = np.exp(sc.gammaln(nu + 1) + nu * np.log(2 / zl)) * sc.jv(nu, zl)
    return out


_GL_NODES = 20
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_NODES)


def _mollified(q: Callable, t: float, mollify: float) -> Callable[[np.ndarray], np.ndarray]:
    def w(kk):
        with np.errstate(all="ignore"):
            v = np.asarray(q(kk, t), dtype=float)
        return v * np.exp(-0.5 * (mollify * kk) ** 2) if mollify > 0 else v

    return w


def _cutoff(w: Callable, N: int) -> float:
    """The k beyond which |q(k)| k^(N-1) stays below 1e-16 of its maximum (a log-grid scan)."""
    kk = np.logspace(-8, 10, 1801)
    g = np.abs(w(kk)) * kk ** (N - 1)
    g = np.where(np.isfinite(g), g, 0.0)
    if not np.any(g > 0):
        raise ValueError("the kernel is zero or not finite on the k grid")
    above = np.nonzero(g > 1e-16 * g.max())[0]
    last = above[-1]
    if last >= len(kk) - 10:
        raise ValueError("the Fourier kernel does not decay in k (a wave-like kernel): pass mollify > 0")
    return float(kk[last + 5])


def _panels(kmax: float, rmax: float, breakpoints: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes/weights on [0, kmax]: panels of width <= 3 pi / rmax and <= kmax / 32,
    geometrically graded (2^-j) towards 0 and towards both sides of each breakpoint (kinks of q)."""
    h = min(kmax / 32, 3 * math.pi / rmax) if rmax > 0 else kmax / 32
    grade = h * 2.0 ** -np.arange(1, 25)
    edges = [np.arange(0, kmax, h), [kmax], grade]
    for b in breakpoints:
        if 0 < b < kmax:
            edges += [[b], b - grade, b + grade]
    e = np.unique(np.clip(np.concatenate(edges), 0, kmax))
    a, b = e[:-1], e[1:]
    nodes = (0.5 * (b - a))[:, None] * _GL_X[None, :] + (0.5 * (a + b))[:, None]
    weights = (0.5 * (b - a))[:, None] * _GL_W[None, :]
    return nodes.ravel(), weights.ravel()


def radial_inverse_fourier(q: Callable, t: float, r, N: int, *, cutoff: float | None = None,
                           mollify: float = 0.0, breakpoints: Iterable[float] = ()) -> np.ndarray:
    """p(r) = (2 pi)^(-N/2) r^(1-N/2) int_0^inf q(k, t) J_{N/2-1}(k r) k^(N/2) dk, numerically.

    ``q(k, t)`` is NumPy-vectorised in k. The integral runs over [0, cutoff] (default: where
    |q| k^(N-1) has fallen below 1e-16 of its maximum) with composite Gauss-Legendre panels, 20 nodes,
    of width <= 3 pi / r (chunked by r, so the Bessel oscillation is resolved), graded towards k = 0
    and towards the ``breakpoints`` (put the kinks of q there, e.g. k0 for Helmholtz). N = 1 is the
    cosine transform (1/pi) int q cos(k r) dk; N = 3 is (1/(2 pi^2 r)) int q sin(k r) k dk.

    ``mollify = delta > 0`` multiplies q by exp(-(delta k)^2 / 2), i.e. returns the kernel convolved
    with the N-dimensional Gaussian of standard deviation delta: needed for kernels that do not
    decay in k (wave-like: atoms and wavefronts), harmless (and positivity-preserving) otherwise.
    Accurate to ~1e-10 relative for kernels decaying like exp(-c k t) or faster.
    """
    r = np.asarray(r, dtype=float)
    shape = r.shape
    r = r.ravel()
    if np.any(r < 0):
        raise ValueError("r must be >= 0")
    w = _mollified(q, float(t), float(mollify))
    kmax = float(cutoff) if cutoff is not None else _cutoff(w, N)
    nu = N / 2 - 1
    order = np.argsort(r)
    out = np.empty_like(r)
    for start in range(0, len(r), 256):
        idx = order[start:start + 256]
        kk, ww = _panels(kmax, float(r[idx].max()), breakpoints)
        f = w(kk) * kk ** (N - 1) * ww
        out[idx] = _Lambda(nu, np.outer(r[idx], kk)) @ f
    return (out * sphere_area(N) / (2 * math.pi) ** N).reshape(shape)


@dataclass(frozen=True)
class Positivity:
    """How far the (mollified) kernel at time t is from a probability density.

    negative_mass: int max(-p, 0) |S^(N-1)| r^(N-1) dr over [0, r_max], relative to the mass q(0, t);
    min_p: min p over the grid (absolute); min_p_rel: min_p / max p;
    first_negative_radius: the first r where p < -1e-9 max p (linear interpolation of the zero before
    it), None if p stays above that; r_max, mollify: the grid's extent and the Gaussian width used.
    """

    t: float
    negative_mass: float
    min_p: float
    min_p_rel: float
    first_negative_radius: float | None
    r_max: float
    mollify: float


def _mass(w: Callable) -> float:
    m = float(w(np.array([0.0]))[0])
    return m if np.isfinite(m) else float(w(np.array([1e-12]))[0])


def _first_k_below(w: Callable, level: float) -> float:
    kk = np.logspace(-8, 10, 1801)
    v = np.abs(w(kk))
    below = np.nonzero(np.isfinite(v) & (v <= level))[0]
    if len(below) == 0:
        raise ValueError("the kernel does not decay in k: pass mollify > 0")
    return float(kk[below[0]])


def positivity_at(q: Callable, t: float, N: int, *, r_max: float | None = None, mollify: float = 0.0,
                  breakpoints: Iterable[float] = (), n_r: int | None = None) -> Positivity:
    """Sample p(r) (mollified by a Gaussian of std ``mollify``) on a uniform grid of [0, r_max] and
    measure its negative part (trapezoid rule).

    Defaults: r_max = 24 / k_half + 8 mollify, with k_half where |q| first falls to half its mass (the
    kernel's length scale; for kernels supported in r <= t, such as waves, pass r_max = t + 12 mollify,
    much cheaper); grid step pi / (8 k_fine), k_fine where |q| falls below 1e-6 of its mass (the finest
    scale of any feature carrying > 1e-6 of the mass), 800 to 40000 points. Heavy-tailed signed kernels
    (exp(-t k^3): a negative r^-(N+3) tail) lose the part of their negative mass beyond r_max.
    """
    w = _mollified(q, float(t), float(mollify))
    mass = _mass(w)
    if not mass > 0:
        raise ValueError(f"the kernel's mass q(0, t) = {mass} is not positive at t = {t}")
    if r_max is None:
        r_max = 24 / _first_k_below(w, 0.5 * mass) + 8 * mollify
    if n_r is None:
        dr = math.pi / (8 * _first_k_below(w, 1e-6 * mass))
        n_r = int(min(max(math.ceil(r_max / dr) + 1, 800), 40000))
    rr = np.linspace(0.0, r_max, n_r)
    p = radial_inverse_fourier(q, t, rr, N, mollify=mollify, breakpoints=breakpoints)
    neg = np.trapezoid(np.maximum(-p, 0.0) * sphere_area(N) * rr ** (N - 1), rr) / mass
    pmax = float(p.max())
    bad = np.nonzero(p < -1e-9 * pmax)[0]
    r_neg = None
    if len(bad):
        i = bad[0]
        j = i - 1
        while j > 0 and p[j] < 0:
            j -= 1
        r_neg = float(rr[j] + (rr[j + 1] - rr[j]) * p[j] / (p[j] - p[j + 1])) if p[j] >= 0 else float(rr[j])
    return Positivity(t=float(t), negative_mass=float(neg), min_p=float(p.min()), min_p_rel=float(p.min()) / pmax,
                      first_negative_radius=r_neg, r_max=float(r_max), mollify=float(mollify))


def positivity_report(q: Callable, N: int, t_grid: Iterable[float], *, r_max=None, mollify: float = 0.0,
                      breakpoints: Iterable[float] = ()) -> tuple[Positivity, ...]:
    """:func:`positivity_at` over a grid of times; ``r_max`` may be a number, None or a function of t."""
    out = []
    for tt in t_grid:
        rm = r_max(tt) if callable(r_max) else r_max
        out.append(positivity_at(q, tt, N, r_max=rm, mollify=mollify, breakpoints=breakpoints))
    return tuple(out)


def negative_mass(q: Callable, t: float, N: int, *, r_max: float | None = None, mollify: float = 0.0,
                  breakpoints: Iterable[float] = ()) -> float:
    """int max(-p, 0) |S^(N-1)| r^(N-1) dr / q(0, t) for the mollified kernel (see :func:`positivity_at`)."""
    return positivity_at(q, t, N, r_max=r_max, mollify=mollify, breakpoints=breakpoints).negative_mass


def first_negative_radius(q: Callable, t: float, N: int, *, r_max: float | None = None, mollify: float = 0.0,
                          breakpoints: Iterable[float] = ()) -> float | None:
    """The smallest r where the (mollified) kernel goes negative, or None (see :func:`positivity_at`)."""
    return positivity_at(q, t, N, r_max=r_max, mollify=mollify, breakpoints=breakpoints).first_negative_radius
