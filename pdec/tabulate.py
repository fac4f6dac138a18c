"""Tabulated radial laws of kernels that are positive (or nearly) but not Gaussian scale mixtures.

Compile-time code (NumPy, SciPy, pdec.radial_transform and pdec.green's closed forms; no torch).
For a radial kernel q_t(x - y) in N dimensions the radius |x - y| has the density

    f_t(r) = |S^(N-1)| r^(N-1) p(r, t)   (plus, possibly, an atom at the outermost radius),

with p from a closed form (pdec.green) or from the numerical radial inverse Fourier transform of
q(k, t) (pdec.radial_transform.radial_inverse_fourier). :func:`radial_table` evaluates f_t on a fine radial grid
for each t of a grid, clips its negative part (recording the clipped mass), normalises, and tabulates
the quantile function rho_t(u) = F_t^{-1}(u) on a fixed grid of levels u. The runtime
(pdec/runtime/radial.py, ``Tabulated``) interpolates it and samples x = y + rho_t(U) xi/|xi| with the
velocity (d rho_t/dt)/rho_t (x - y).

Exactness: the sampled law is the clipped, normalised kernel up to the tabulation error (interpolation
in u and in log t), which :func:`radial_table` measures as a Kolmogorov distance against the source
(``tab_error``: leave-one-out by default, a conservative estimate; or at the midpoints of the t grid).
It is exact up to that error where the kernel is a positive measure (the N = 1 telegraph kernel, with
its atoms at |x - y| = t); elsewhere the clipped negative mass ``neg_mass`` and the mass outside the
tabulated radii ``tail_mass`` bound the rest (total-variation distance <= 2 (neg_mass + |tail_mass|)).
Kernels that do not decay in k (waves) are tabulated convolved with an N-dimensional Gaussian of
standard deviation delta(t) = mollify * L(t), L(t) the kernel's length scale (``meta["delta"]``); the
negative part is then that of the mollified kernel (a signed layer thinner than delta is averaged out).
The velocity d rho_t/dt is exact for the interpolated law; against the true kernel it is first order in
the t spacing (about 2% at 16 times per decade for the telegraph kernel).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import scipy.special as sc
from scipy.interpolate import CubicSpline

from . import green, radial_transform

__all__ = [
    "FORMAT",
    "u_levels",
    "radial_table",
    "usable_t_range",
    "restrict",
    "telegraph_density",
    "dissipative_wave_table",
    "helmholtz_table",
    "table_quantiles",
]

FORMAT = "pdec-radial-table"
VERSION = 1
#: the top level u = 1 is the radius where the normalised CDF reaches 1 - _TOP (the rest is dropped)
_TOP = 1e-12
_TINY = 1e-300

Number = float | int
TimeFn = Callable[[float], float] | Number | None


def _at(fn: TimeFn, t: float) -> float | None:
    if fn is None:
        return None
    return float(fn(t)) if callable(fn) else float(fn)


def u_levels(n_u: int = 129, n_tail: int = 3) -> np.ndarray:
    """Levels 0 = u_0 < ... < u_{n_u-1} = 1, symmetric, with 0.5 among them.

    A Chebyshev-like grid sin^2(pi j / (2 (m - 1))) on m = n_u - 2 n_tail points (dense at both ends,
    where the quantile bends), plus n_tail geometric levels u_1 / 30^k (and 1 - those) inside its first
    and last cells.
    """
    m = n_u - 2 * n_tail
    if m < 3 or m % 2 == 0:
        raise ValueError(f"n_u - 2 n_tail must be odd and >= 3, got n_u={n_u}, n_tail={n_tail}")
    h = (m - 1) // 2
    low = np.sin(0.5 * np.pi * np.arange(h + 1) / (m - 1)) ** 2
    low[-1] = 0.5
    tail = low[1] / 30.0 ** np.arange(n_tail, 0, -1)
    low = np.concatenate([[0.0], tail, low[1:]])
    return np.concatenate([low, 1.0 - low[-2::-1]])


def _quantiles(r: np.ndarray, f: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, float]:
    """Quantiles of the density f >= 0 on the grid r (piecewise linear f, so a piecewise quadratic CDF).

    Returns (Q at the levels, total mass). Level 1 maps to F = 1 - _TOP (the outermost 1e-12 is dropped).
    """
    h = np.diff(r)
    cell = 0.5 * (f[1:] + f[:-1]) * h
    F = np.concatenate([[0.0], np.cumsum(cell)])
    mass = float(F[-1])
    F = F / mass
    fn = f / mass
    target = np.minimum(levels, 1.0 - _TOP)
    k = np.clip(np.searchsorted(F, target, side="right") - 1, 0, len(r) - 2)
    A = (fn[k + 1] - fn[k]) / (2 * h[k])
    B = fn[k]
    C = np.maximum(target - F[k], 0.0)
    disc = np.sqrt(np.maximum(B * B + 4 * A * C, 0.0))
    den = B + disc
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(den > 0, 2 * C / den, 0.0)
    Q = r[k] + np.clip(s, 0.0, h[k])
    return np.maximum.accumulate(Q), mass


def _k_scales(w: Callable, N: int) -> tuple[float, float]:
    """(k_half, k_fine): where |q| first falls to 1/2 of its mass, and the last k where it exceeds 1e-6 of it."""
    kk = np.logspace(-8, 10, 1801)
    with np.errstate(all="ignore"):
        v = np.abs(np.asarray(w(kk), dtype=float))
    v = np.where(np.isfinite(v), v, 0.0)
    m = v[0]
    half = np.nonzero(v <= 0.5 * m)[0]
    if not len(half):
        raise ValueError("the Fourier kernel does not fall to half its mass: no length scale")
    above = np.nonzero(v > 1e-6 * m)[0]
    return float(kk[half[0]]), float(kk[min(above[-1] + 1, len(kk) - 1)])


def _transform(q: Callable, t: float, r: np.ndarray, N: int, mollify: float, breakpoints) -> np.ndarray:
    """pdec.radial_transform.radial_inverse_fourier, with its fast Lambda in N > 3."""
    return radial_transform.radial_inverse_fourier(q, t, r, N, mollify=mollify, breakpoints=breakpoints,
                                                   bessel=radial_transform.fast_lambda if N > 3 else None)


def _fine_grid(r_max: float, L: float, n: int) -> np.ndarray:
    """r = L sinh(z), z uniform: spacing ~ L dz near 0 and ~ r dz far out (resolves scale L and long tails)."""
    z = np.linspace(0.0, math.asinh(r_max / L), n)
    r = L * np.sinh(z)
    r[-1] = r_max
    return r


class _Source:
    """The signed radial density f_t(r) (and an atom) of the kernel at one t, on a fine grid."""

    def __init__(self, N, q, density, atom, scale, r_max, support, mollify, breakpoints, n_r, n_fine):
        self.N, self.q, self.density, self.atom = N, q, density, atom
        self.scale, self.r_max, self.support, self.mollify = scale, r_max, support, mollify
        self.breakpoints, self.n_r, self.n_fine = tuple(breakpoints), n_r, n_fine

    def __call__(self, t: float) -> dict:
        N = self.N
        L = _at(self.scale, t)
        delta = 0.0
        if self.q is not None:
            k_half, _ = _k_scales(lambda kk: self.q(kk, t), N)
            L = L if L is not None else 1.0 / k_half
            delta = self.mollify * L
        if L is None:
            raise ValueError("radial_table needs scale= (the kernel's length scale) when q is not given")
        r_max = _at(self.r_max, t)
        if r_max is None:
            r_max = 24.0 * L
            sup = _at(self.support, t)
            if sup is not None:
                r_max = min(r_max, sup)
            r_max += 8.0 * delta
        r = _fine_grid(r_max, L, self.n_fine)
        n_eval = 0
        if self.density is not None:
            with np.errstate(all="ignore"):
                p = np.asarray(self.density(r, t), dtype=float)
            p = np.broadcast_to(p, r.shape).copy()
        else:
            w = radial_transform.mollified(self.q, t, delta)
            _, k_fine = _k_scales(w, N)
            h = math.pi / (4.0 * k_fine)  # 8 points per period of the finest feature (cubic spline after)
            n_eval = int(min(max(math.ceil(r_max / h) + 1, 400), self.n_r))
            rc = np.linspace(0.0, r_max, n_eval)
            pc = _transform(self.q, t, rc, N, delta, self.breakpoints)
            p = CubicSpline(rc, pc)(r)
        bad = ~np.isfinite(p)
        if bad.any():  # removable singularities of closed forms (e.g. at the wavefront r = t): nearest finite
            good = np.nonzero(~bad)[0]
            if not len(good):
                raise ValueError(f"the kernel's density is not finite anywhere at t = {t}")
            p[bad] = np.interp(r[bad], r[good], p[good])
        f = radial_transform.sphere_area(N) * r ** (N - 1) * p
        wa, ra = (0.0, r_max) if self.atom is None else tuple(float(x) for x in self.atom(t))
        return {"t": t, "r": r, "f": f, "atom_mass": wa, "atom_r": ra, "L": L, "delta": delta, "r_max": r_max,
                "n_eval": n_eval}


def _clip(src: dict, levels: np.ndarray) -> dict:
    """Clip the negative part, normalise, tabulate the quantiles of the continuous part."""
    r, f = src["r"], src["f"]
    h = np.diff(r)
    trap = lambda g: float(np.sum(0.5 * (g[1:] + g[:-1]) * h))  # noqa: E731
    fp = np.maximum(f, 0.0)
    pos, neg = trap(fp), trap(np.maximum(-f, 0.0))
    wa = src["atom_mass"]
    kept = pos + wa
    if not kept > 0:
        raise ValueError(f"the kernel has no positive mass at t = {src['t']}")
    Q, _ = _quantiles(r, fp, levels) if pos > 0 else (np.full(len(levels), src["atom_r"]), 0.0)
    return {"rho": Q, "atom_mass": wa / kept, "atom_r": src["atom_r"], "neg_mass": neg / kept,
            "tail_mass": 1.0 - (pos - neg + wa), "F": np.concatenate([[0.0], np.cumsum(0.5 * (fp[1:] + fp[:-1]) * h)])
            / max(pos, _TINY)}


def _assemble(N: int, grid: list[float], levels: np.ndarray, rows: list[dict]) -> dict:
    return {
        "format": FORMAT, "version": VERSION, "N": N,
        "log_t": [math.log(t) for t in grid],
        "u": [float(x) for x in levels],
        "rho": [[float(x) for x in row["rho"]] for row in rows],
        "atom_mass": [float(row["atom_mass"]) for row in rows],
        "atom_r": [float(row["atom_r"]) for row in rows],
        "neg_mass": [float(row["neg_mass"]) for row in rows],
        "tail_mass": [float(row["tail_mass"]) for row in rows],
    }


def table_quantiles(table: dict, t: float) -> tuple[np.ndarray, float, float]:
    """(Q at the levels, atom mass, atom radius) of the table interpolated at t, as the runtime does it.

    Geometric in t at each level (log rho linear in log t), atom radius geometric, log atom mass linear
    in t; t is clamped to the table's range. (NumPy mirror of pdec/runtime/radial.py, for checks.)
    """
    log_t = np.asarray(table["log_t"])
    L = min(max(math.log(t), log_t[0]), log_t[-1])
    i = int(np.clip(np.searchsorted(log_t, L, side="right") - 1, 0, len(log_t) - 2))
    a = (L - log_t[i]) / (log_t[i + 1] - log_t[i])
    lR = np.log(np.maximum(np.asarray(table["rho"])[i:i + 2], _TINY))
    Q = np.exp(lR[0] + a * (lR[1] - lR[0]))
    lw = np.log(np.maximum(np.asarray(table["atom_mass"])[i:i + 2], _TINY))
    t0, t1 = math.exp(log_t[i]), math.exp(log_t[i + 1])
    w = math.exp(lw[0] + (math.exp(L) - t0) / (t1 - t0) * (lw[1] - lw[0]))
    lra = np.log(np.maximum(np.asarray(table["atom_r"])[i:i + 2], _TINY))
    return Q, w, math.exp(lra[0] + a * (lra[1] - lra[0]))


def _ks(table: dict, levels: np.ndarray, src: dict, cl: dict) -> float:
    """sup_r |F_table(r) - F_source(r)| at the source's time (both clipped and normalised)."""
    Q, w, ra = table_quantiles(table, src["t"])
    r = src["r"]
    w_src = cl["atom_mass"]
    F_src = (1.0 - w_src) * cl["F"]
    F_tab = (1.0 - w) * np.interp(r, Q, levels, left=0.0, right=1.0)
    inside = r < min(ra, cl["atom_r"]) if (w > 0 or w_src > 0) else np.ones(len(r), bool)
    d = float(np.max(np.abs(F_tab - F_src)[inside])) if inside.any() else 0.0
    return max(d, abs(w - w_src))


def radial_table(q: Callable | None, N: int, t_grid: Sequence[float], *, n_u: int = 129, tol: float = 1e-3,
                 density: Callable | None = None, atom: Callable | None = None, scale: TimeFn = None,
                 r_max: TimeFn = None, support: TimeFn = None, mollify: float = 0.0,
                 breakpoints: Sequence[float] = (), n_r: int = 3000, n_fine: int = 20001, check: str = "loo",
                 refine: float | None = None, max_n_t: int = 96,
                 source: str = "", exact: str = "") -> dict:
    """Tabulate the radial law of a radial kernel in N dimensions; a JSON-serialisable dict.

    The kernel is given by ``q(k, t)`` (NumPy, normalised Fourier kernel; inverted numerically by
    pdec.radial_transform.radial_inverse_fourier, mollified by a Gaussian of std mollify * L(t) for kernels that do
    not decay in k) or by ``density(r, t)`` (the N-dimensional density at radius r, a closed form) and
    optionally ``atom(t) -> (mass, radius)`` (a point mass of |x - y| at its outermost radius).
    ``scale``: the length scale L(t) (default 1/k_half, |q(k_half, t)| = 1/2); ``r_max``: the tabulated
    radii [0, r_max(t)] (default 24 L, capped by ``support(t)``, plus 8 delta); numbers or functions of t.
    ``breakpoints``: kinks of q in k. ``n_r``: at most this many radii for the numerical transform
    (spline-interpolated onto ``n_fine`` radii). ``check``: how the tabulation error is measured:
    "loo" (default, free): t_i against the table with row i left out, i.e. interpolated across a cell
    twice as wide (interpolation in t is second order, so this is ~4x the error at the table's own
    midpoints: a conservative estimate); "midpoints": the source recomputed at the geometric midpoints
    (twice the cost, the actual error); "none". ``refine``: a target for the midpoint error; cells next
    to a usable time (clipped mass <= tol) whose leave-one-out estimate / 4 exceeds it are halved
    (geometric midpoints added, sources computed only there) until none does or the grid holds
    ``max_n_t`` times.

    Keys: format, version, N, log_t [n_t], u [n_u], rho [n_t][n_u] (quantiles of the continuous part),
    atom_mass [n_t] (share of the atom in the normalised law), atom_r [n_t], neg_mass [n_t] (clipped
    negative mass / kept mass), tail_mass [n_t] (1 - signed mass captured: mass beyond r_max or
    numerical error), tab_error (Kolmogorov distance between the interpolated table and the clipped,
    normalised source: [n_t - 2] leave-one-out values or [n_t - 1] midpoint values, see check; [] for
    "none"), tab_error_method, tol, usable (t_lo, t_hi) or
    None, exact (a note), meta (source, n_t, n_u, n_fine, n_r and delta per t, mollify, refine).
    Deterministic: the same arguments give the same dict (no timings in it).
    """
    t_grid = np.asarray(t_grid, dtype=float)
    if t_grid.ndim != 1 or len(t_grid) < 2 or not np.all(t_grid > 0) or not np.all(np.diff(t_grid) > 0):
        raise ValueError("t_grid must hold >= 2 increasing positive times")
    if (q is None) == (density is None):
        raise ValueError("give exactly one of q (Fourier kernel) and density (closed form)")
    N = int(N)
    if N < 1:
        raise ValueError(f"N must be >= 1, got {N}")
    if check not in ("loo", "midpoints", "none"):
        raise ValueError(f"check must be 'loo', 'midpoints' or 'none', got {check!r}")
    if refine is not None and check != "loo":
        raise ValueError("refine needs check='loo'")
    levels = u_levels(n_u)
    src_fn = _Source(N, q, density, atom, scale, r_max, support, mollify, breakpoints, n_r, n_fine)
    done: dict[float, tuple[dict, dict]] = {}  # t -> (source, clipped row)
    grid = [float(x) for x in t_grid]
    rounds = 8 if refine is not None else 1
    for round_ in range(rounds):
        for t in grid:
            if t not in done:
                src = src_fn(t)
                row = _clip(src, levels)
                if check != "loo":
                    src = {k: v for k, v in src.items() if k not in ("r", "f")}
                done[t] = (src, row)
        table = _assemble(N, grid, levels, [done[t][1] for t in grid])
        tab_error = []
        if check == "loo":  # leave one out: t_i from the table without row i (a cell of width 2 dlog t)
            for i in range(1, len(grid) - 1):
                sub = {key: [table[key][j] for j in (i - 1, i + 1)] for key in ("log_t", "rho", "atom_mass", "atom_r")}
                tab_error.append(_ks(sub, levels, *done[grid[i]]))
        if refine is None or round_ == rounds - 1:  # the last round adds no times it would not compute
            break
        # cells next to a usable node (clipped mass <= tol) whose leave-one-out error (~4x the midpoint
        # error) exceeds 4 refine: halve them
        clipped = np.asarray(table["neg_mass"]) + np.abs(table["tail_mass"])
        worst = sorted(((e, i) for i, e in enumerate(tab_error, start=1) if e > 4.0 * refine and clipped[i] <= tol),
                       reverse=True)
        cells = []
        for _, i in worst:
            cells += [c for c in (i - 1, i) if c not in cells]
        cells = cells[:max(max_n_t - len(grid), 0)]
        if not cells:
            break
        grid = sorted(grid + [math.sqrt(grid[c] * grid[c + 1]) for c in cells])
    if check == "midpoints":  # the source again at the geometric midpoints (twice the cost)
        for t0, t1 in zip(grid[:-1], grid[1:]):
            src = src_fn(math.sqrt(t0 * t1))
            tab_error.append(_ks(table, levels, src, _clip(src, levels)))
    table["tab_error"] = [float(x) for x in tab_error]
    table["tab_error_method"] = check
    table["tol"] = float(tol)
    try:
        table["usable"] = list(usable_t_range(table, tol))
    except ValueError:
        table["usable"] = None
    table["exact"] = exact or (
        "approximate: the clipped, normalised kernel up to the tabulation error (tab_error, a Kolmogorov "
        "distance); clipped negative mass neg_mass, untabulated mass tail_mass")
    table["meta"] = {"source": source or ("numerical inverse Fourier transform" if q is not None else "closed form"),
                     "n_t": len(grid), "n_u": n_u, "n_fine": n_fine, "n_r": [done[t][0]["n_eval"] for t in grid],
                     "delta": [done[t][0]["delta"] for t in grid], "mollify": float(mollify), "refine": refine}
    return table


def restrict(table: dict, t_lo: float | None = None, t_hi: float | None = None) -> dict:
    """The table cut to the grid times in [t_lo, t_hi] (default: its usable range), as a new dict.

    The runtime's t_range is then the kept range (so pdec's sigma floor and cap follow it); tab_error
    keeps the entries of the kept interior times (leave-one-out) or cells (midpoints).
    """
    if t_lo is None or t_hi is None:
        if table.get("usable") is None:
            raise ValueError("the table has no usable range (clipped mass above tol everywhere)")
        t_lo = table["usable"][0] if t_lo is None else t_lo
        t_hi = table["usable"][1] if t_hi is None else t_hi
    t = np.exp(np.asarray(table["log_t"]))
    keep = np.nonzero((t >= t_lo * (1 - 1e-12)) & (t <= t_hi * (1 + 1e-12)))[0]
    if len(keep) < 2:
        raise ValueError(f"fewer than two tabulated times in [{t_lo!r}, {t_hi!r}]")
    i0, i1 = int(keep[0]), int(keep[-1])
    out = dict(table)
    for key in ("log_t", "rho", "atom_mass", "atom_r", "neg_mass", "tail_mass"):
        out[key] = list(table[key][i0:i1 + 1])
    err = table.get("tab_error", [])
    if table.get("tab_error_method") == "loo":
        out["tab_error"] = list(err[i0:max(i1 - 1, i0)])
    elif table.get("tab_error_method") == "midpoints":
        out["tab_error"] = list(err[i0:i1])
    meta = dict(table.get("meta", {}))
    for key in ("n_r", "delta"):
        if isinstance(meta.get(key), list):
            meta[key] = meta[key][i0:i1 + 1]
    meta["n_t"] = i1 - i0 + 1
    out["meta"] = meta
    try:
        out["usable"] = list(usable_t_range(out, out.get("tol", 1e-3)))
    except ValueError:
        out["usable"] = None
    return out


def usable_t_range(table: dict, tol: float) -> tuple[float, float]:
    """(t_lo, t_hi): the longest run of consecutive grid times where neg_mass + |tail_mass| <= tol.

    ValueError when no grid time qualifies.
    """
    bad = np.asarray(table["neg_mass"]) + np.abs(np.asarray(table["tail_mass"])) > tol
    best, run_start, best_len = None, None, 0
    for i, b in enumerate(list(bad) + [True]):
        if not b and run_start is None:
            run_start = i
        if b and run_start is not None:
            if i - run_start > best_len:
                best, best_len = (run_start, i - 1), i - run_start
            run_start = None
    if best is None:
        raise ValueError(f"no tabulated time has clipped + untabulated mass <= {tol:g}")
    log_t = table["log_t"]
    return math.exp(log_t[best[0]]), math.exp(log_t[best[1]])


# ---------------------------------------------------------------------------------------------
# the two cases: dissipative wave and Helmholtz
# ---------------------------------------------------------------------------------------------

def telegraph_density(eps: float) -> Callable[[np.ndarray, float], np.ndarray]:
    """The N = 1 dissipative wave's continuous part (eps/2) e^(-eps t) (I_0(eps s) + t I_1(eps s)/s).

    s = sqrt(t^2 - r^2). This is pdec.green.green_dissipative_wave(eps, 1).ac, written with exponentially
    scaled Bessel functions (no overflow at large eps t) and its limit at the front (I_1(eps s)/s -> eps/2);
    0 for r > t.
    """
    eps = float(eps)

    def p(r, t):
        r = np.asarray(r, dtype=float)
        s = np.sqrt(np.maximum(t * t - r * r, 0.0))
        x = eps * s
        damp = np.exp(eps * (s - t))  # e^(-eps t) e^(x), times ive = I e^(-x)
        with np.errstate(divide="ignore", invalid="ignore"):
            i1_over_s = np.where(x > 1e-6, sc.ive(1, x) / np.where(s > 0, s, 1.0), 0.5 * eps * np.exp(-x))
        out = 0.5 * eps * damp * (sc.ive(0, x) + t * i1_over_s)
        return np.where(r <= t, out, 0.0)

    return p


def dissipative_wave_table(eps: float, N: int, t_grid: Sequence[float], *, c: float = 1.0, mollify: float = 0.03,
                           **kw) -> dict:
    """The radial table of phi_tt + 2 eps phi_t - c^2 lap(phi) (pdec.green's DissipativeWave at c = 1).

    The kernel at speed c is the c = 1 kernel with radii scaled by c. N = 1: exact closed form (the
    telegraph process): the continuous part on |x - y| < c t plus the atoms e^(-eps t)/2 at
    x - y = +-c t (one atom of |x - y|). N >= 2: numerical inverse transform of
    q = e^(-eps t)(cosh(g t) + eps sinh(g t)/g), g = sqrt(eps^2 - c^2 k^2), mollified by
    delta = mollify * L(t), L(t) = c min(t, sqrt(t/eps)); its signed wavefront (weight ~ e^(-eps t)
    times a polynomial in eps t whose degree grows with N) is clipped and recorded in neg_mass.
    """
    eps, c = float(eps), float(c)
    if not (eps > 0 and c > 0):
        raise ValueError(f"dissipative_wave_table needs eps > 0 and c > 0, got eps={eps!r}, c={c!r}")
    scale = kw.pop("scale", lambda t: c * min(t, math.sqrt(t / eps)))
    if N == 1:
        p1 = telegraph_density(eps)
        return radial_table(None, 1, t_grid, density=lambda r, t: p1(np.asarray(r) / c, t) / c,
                            atom=lambda t: (math.exp(-eps * t), c * t), scale=scale,
                            r_max=kw.pop("r_max", lambda t: c * t),
                            source=f"closed form: telegraph process, eps={eps!r}, c={c!r}",
                            exact="exact (a positive law: continuous part plus the atoms at |x - y| = c t) up to the "
                                  "tabulation error tab_error", **kw)
    q1 = green.dissipative_wave_fourier(eps)
    return radial_table(lambda k, t: q1(c * np.asarray(k), t), N, t_grid, scale=scale, support=lambda t: c * t,
                        mollify=mollify, breakpoints=(eps / c,),
                        source=f"numerical inverse Fourier transform of the dissipative wave, eps={eps!r}, c={c!r}, "
                               f"mollified by delta = {mollify!r} * c min(t, sqrt(t/eps))",
                        exact="approximate: the kernel convolved with a Gaussian of std delta (meta.delta), its "
                              "negative part (the wavefront, weight ~exp(-eps t)) clipped (neg_mass)", **kw)


def helmholtz_table(k0: float, N: int, t_grid: Sequence[float], *, lobes: float = 4.0, **kw) -> dict:
    """The radial table of Helmholtz phi_tt + lap(phi) + k0^2 phi = 0 for t < pi/(2 k0) (closed form, green).

    q_t(r) = -pi t (k0/(2 pi rho))^nu Y_nu(k0 rho)/cos(k0 t), rho = sqrt(t^2 + r^2), nu = (N + 1)/2: a
    Poisson-like core (scale t) and a signed Bessel-Y tail of period 2 pi/k0, tabulated on
    r <= t + lobes 2 pi/k0. neg_mass counts the negative lobes there (in N >= 2 the negative part has
    infinite mass: it grows with lobes), tail_mass the signed mass beyond.
    """
    import sympy as sp

    k0 = float(k0)
    bad = [float(t) for t in t_grid if not k0 * float(t) < 0.5 * math.pi]
    if bad:
        raise ValueError(f"Helmholtz: the mass cos(k0 t) vanishes at t = pi/(2 k0) = {0.5 * math.pi / k0!r}; "
                         f"t_grid reaches {max(bad)!r}")
    expr = green.green_helmholtz(sp.Float(k0), N)
    dens = green.to_numpy(expr, green.r, green.t)
    return radial_table(None, N, t_grid, density=lambda r, t: dens(r, t), scale=kw.pop("scale", lambda t: t),
                        r_max=kw.pop("r_max", lambda t: t + lobes * 2.0 * math.pi / k0),
                        source=f"closed form: Helmholtz, k0={k0!r}, radii <= t + {lobes!r} * 2 pi / k0",
                        exact="approximate: the Bessel-Y tail is signed; its negative lobes are clipped "
                              "(neg_mass) and the mass beyond r_max dropped (tail_mass)", **kw)
