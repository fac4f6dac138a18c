"""The numerical radial inverse Fourier transform in N dimensions, and the positivity measures built on it.

A radial kernel q(k, t) (normalised Fourier transform, NumPy-vectorised in k) has the real-space density

    p(r) = (2 pi)^(-N/2) r^(1 - N/2) int_0^inf q(k) J_{N/2-1}(k r) k^(N/2) dk
         = (2 pi)^(-N) |S^(N-1)| int_0^inf q(k) Lambda_{N/2-1}(k r) k^(N-1) dk,

with |S^(N-1)| = 2 pi^(N/2) / Gamma(N/2) and Lambda_nu(z) = Gamma(nu + 1) (2/z)^nu J_nu(z) (= cos z in
N = 1, J_0(z) in N = 2, sin(z)/z in N = 3; Lambda_nu(0) = 1). This module is the one implementation of
that transform (:func:`radial_inverse_fourier`, with two evaluators of Lambda: :func:`Lambda`, and
:func:`fast_lambda` for the tables of pdec.tabulate) and of the measure of how far a kernel is from a
probability density (:func:`positivity_at`, :func:`negative_mass`, ...). It is a service: NumPy and
SciPy only, no other pdec module; pdec.kernel (positivity), pdec.green and pdec.tabulate use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import scipy.special as sc

__all__ = [
    "sphere_area",
    "Lambda",
    "fast_lambda",
    "mollified",
    "radial_inverse_fourier",
    "Positivity",
    "positivity_at",
    "positivity_report",
    "negative_mass",
    "first_negative_radius",
]


def sphere_area(N: int) -> float:
    """|S^(N-1)| = 2 pi^(N/2) / Gamma(N/2), the area of the unit sphere in R^N."""
    return 2 * math.pi ** (N / 2) / math.gamma(N / 2)


def Lambda(nu: float, z: np.ndarray) -> np.ndarray:
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


def fast_lambda(nu: float, z: np.ndarray) -> np.ndarray:
    """Lambda_nu(z) = Gamma(nu + 1) (2/z)^nu J_nu(z) (the kernel of the transform), fast.

    Half-integer nu = n + 1/2 (odd N): (2n + 1)!! j_n(z) / z^n (spherical Bessel); integer nu (even N):
    J_0, J_1 and the upward recurrence J_{m+1} = (2m/z) J_m - J_{m-1} (stable for z >= 2 > m - 1 at the
    orders of N <= 8 up to a digit); the power series for z < 2 (30 terms). scipy's jv is 10x slower.
    """
    if nu in (-0.5, 0.0, 0.5):
        return Lambda(nu, z)
    out = np.empty_like(z)
    small = z < 2.0
    zs = z[small]
    term, acc = np.ones_like(zs), np.ones_like(zs)
    for j in range(1, 31):
        term = term * (-(zs**2) / 4) / (j * (nu + j))
        acc = acc + term
    out[small] = acc
    zl = z[~small]
    if float(nu).is_integer():
        m = int(nu)
        jm1, jm = sc.j0(zl), sc.j1(zl)
        for i in range(1, m):
            jm1, jm = jm, (2 * i / zl) * jm - jm1
        out[~small] = math.gamma(m + 1) * (2 / zl) ** m * jm
    else:
        n = int(nu - 0.5)
        dfact = float(np.prod(np.arange(1, 2 * n + 2, 2)))
        out[~small] = dfact * sc.spherical_jn(n, zl) / zl**n
    return out


_GL_NODES = 20
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_NODES)


def mollified(q: Callable, t: float, mollify: float) -> Callable[[np.ndarray], np.ndarray]:
    """k -> q(k, t) exp(-(mollify k)^2 / 2): the kernel convolved with a Gaussian of std ``mollify``."""

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
                           mollify: float = 0.0, breakpoints: Iterable[float] = (),
                           bessel: Callable[[float, np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """p(r) = (2 pi)^(-N/2) r^(1-N/2) int_0^inf q(k, t) J_{N/2-1}(k r) k^(N/2) dk, numerically.

    ``bessel``: the evaluator of Lambda_nu (default :func:`Lambda`; pdec.tabulate passes
    :func:`fast_lambda` in N > 3).

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
    w = mollified(q, float(t), float(mollify))
    kmax = float(cutoff) if cutoff is not None else _cutoff(w, N)
    nu = N / 2 - 1
    bessel = Lambda if bessel is None else bessel
    order = np.argsort(r)
    out = np.empty_like(r)
    for start in range(0, len(r), 256):
        idx = order[start:start + 256]
        kk, ww = _panels(kmax, float(r[idx].max()), breakpoints)
        f = w(kk) * kk ** (N - 1) * ww
        out[idx] = bessel(nu, np.outer(r[idx], kk)) @ f
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
    w = mollified(q, float(t), float(mollify))
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
